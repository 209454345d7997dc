//! `cluster-links --alter` against a real in-process Strait broker: flag and subcommand
//! forms, `--add-config` / `--delete-config` / `--config-file`, local refusals (exit 2),
//! broker refusals (exit 1, one line, nothing changed), and `--describe` showing the result.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

fn describe(a: &str) -> String {
    let d = cluster_links(&[
        "--describe",
        "--link",
        "l",
        "--bootstrap-server",
        a,
        "--output",
        "json",
    ]);
    assert_eq!(d.code, 0, "{d:?}");
    d.stdout
}

fn config(a: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&describe(a)).unwrap();
    v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == key)
        .and_then(|c| c["value"].as_str().map(str::to_string))
}

#[test]
fn alter_link_configs_through_the_cli() {
    let broker = Broker::start();
    let a = broker.addr.as_str();
    // The source does not exist: the link is created (and altered) without reaching it.
    let run = cluster_links(&[
        "--create",
        "--link",
        "l",
        "--bootstrap-server",
        a,
        "--exclude-validate-link",
        "--config",
        "bootstrap.servers=127.0.0.1:9,acl.sync.ms=1000",
    ]);
    assert_eq!(run.code, 0, "{run:?}");

    let run = cluster_links(&[
        "--bootstrap-server",
        a,
        "--alter",
        "--link",
        "l",
        "--add-config",
        "consumer.offset.sync.ms=5000,acl.sync.ms=2000",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "Cluster link 'l' alter successfully completed: changed acl.sync.ms, consumer.offset.sync.ms.\n"
    );
    assert_eq!(
        config(a, "consumer.offset.sync.ms").as_deref(),
        Some("5000")
    );

    // Subcommand form, delete: back to the default.
    let run = cluster_links(&[
        "alter",
        "--bootstrap-server",
        a,
        "--link",
        "l",
        "--delete-config",
        "acl.sync.ms",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(config(a, "acl.sync.ms").as_deref(), Some("5000"));

    // A config file of new credentials: the link reconnects with them.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("creds.properties");
    std::fs::write(
        &file,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"s3cret\";\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let run = cluster_links(&[
        "--alter",
        "--link",
        "l",
        "--bootstrap-server",
        a,
        "--config-file",
        f,
        "--exclude-validate-link",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("changed sasl.jaas.config, sasl.mechanism, security.protocol.")
            && run.stdout.contains("reconnects"),
        "{}",
        run.stdout
    );
    let shown = describe(a);
    assert!(!shown.contains("s3cret"), "{shown}");
    assert_eq!(
        config(a, "sasl.mechanism").as_deref(),
        Some("SCRAM-SHA-512")
    );
    // With validation, new connection settings must reach the source: refused, unchanged.
    let run = cluster_links(&[
        "--alter",
        "--link",
        "l",
        "--bootstrap-server",
        a,
        "--add-config",
        "bootstrap.servers=127.0.0.1:10",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(
        config(a, "bootstrap.servers").as_deref(),
        Some("127.0.0.1:9")
    );

    // Refusals: local ones exit 2, the broker's exit 1; one line each, nothing changed.
    let before = describe(a);
    for (args, code, want) in [
        (
            vec!["--add-config", "fetch.speed=fast"],
            2,
            "unknown link config 'fetch.speed'",
        ),
        (
            vec!["--add-config", "consumer.offset.sync.ms=10"],
            2,
            "consumer.offset.sync.ms",
        ),
        (
            vec!["--delete-config", "nope"],
            2,
            "unknown link config 'nope'",
        ),
        (
            vec![
                "--add-config",
                "acl.sync.ms=1",
                "--delete-config",
                "acl.sync.ms",
            ],
            2,
            "both set",
        ),
        (vec![], 2, "--alter needs at least one of"),
        (
            vec!["--add-config", "cluster.link.prefix=dr."],
            1,
            "'cluster.link.prefix' cannot be altered",
        ),
        (
            vec!["--delete-config", "topic.config.sync.ms"],
            1,
            "is not set",
        ),
    ] {
        let mut full = vec!["--alter", "--link", "l", "--bootstrap-server", a];
        full.extend(args.iter().copied());
        let run = cluster_links(&full);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
    }
    assert_eq!(describe(a), before);
    let run = cluster_links(&[
        "--alter",
        "--link",
        "nolink",
        "--bootstrap-server",
        a,
        "--add-config",
        "acl.sync.ms=1000",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("'nolink' does not exist"),
        "{}",
        run.stderr
    );
}
