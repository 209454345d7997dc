//! Merging `--config-file`, `--config` and the filter flags, and the exact messages of
//! local validation errors (each names the file or flag and the key; none shows a secret).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use strait_tools::link_config::{build_link_configs, FilterArgs, LinkConfigArgs};
use strait_tools::ToolError;

const SECRET: &str = "s3cr3t-pw";

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn usage(args: &LinkConfigArgs) -> String {
    match build_link_configs(args) {
        Err(ToolError::Usage(m)) => {
            assert!(!m.contains(SECRET), "secret in error: {m}");
            m
        }
        other => panic!("expected a usage error, got {other:?}"),
    }
}

fn value(entries: &[strait_protocol::admin::ConfigEntry], key: &str) -> Option<String> {
    entries
        .iter()
        .find(|c| c.name == key)
        .and_then(|c| c.value.clone())
}

const ACL: &str = r#"{"aclFilters":[{"resourceFilter":{"resourceType":"any","patternType":"any"},"accessFilter":{"operation":"any","permissionType":"any"}}]}"#;

#[test]
fn config_overrides_config_file_and_filters_join_in() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "source.config",
        &format!(
            "bootstrap.servers=src:9092\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"{SECRET}\";\n\
             consumer.offset.sync.ms=30000\nacl.sync.enable=true\n"
        ),
    );
    let acl = write(&dir, "acl.json", &format!("\n  {ACL}\n"));
    let entries = build_link_configs(&LinkConfigArgs {
        config_file: Some(file),
        config: vec!["consumer.offset.sync.ms=5000".into()],
        filters: FilterArgs {
            acl_filters_json_file: Some(acl),
            topic_filters_json: Some(
                r#"{"topicFilters":[{"name":"*","patternType":"LITERAL"}]}"#.into(),
            ),
            ..Default::default()
        },
    })
    .unwrap();
    assert_eq!(
        value(&entries, "consumer.offset.sync.ms").as_deref(),
        Some("5000")
    );
    // The file's text, trimmed, is the config value.
    assert_eq!(value(&entries, "acl.filters").as_deref(), Some(ACL));
    assert!(value(&entries, "auto.create.mirror.topics.filters").is_some());
    let jaas = entries
        .iter()
        .find(|c| c.name == "sasl.jaas.config")
        .unwrap();
    assert!(jaas.sensitive);
    assert!(entries.iter().filter(|c| c.sensitive).count() == 1);
    let names: Vec<&str> = entries.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn exact_messages() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "source.config",
        "bootstrap.servers=src:9092\nfetch.max.bytes=1\n",
    );
    let shown = file.display().to_string();
    assert_eq!(
        usage(&LinkConfigArgs {
            config_file: Some(file.clone()),
            ..Default::default()
        }),
        format!("--config-file {shown}: unknown link config 'fetch.max.bytes'")
    );

    let file = write(
        &dir,
        "bad-value.config",
        "bootstrap.servers=src:9092\nconsumer.offset.sync.ms=10\n",
    );
    assert_eq!(
        usage(&LinkConfigArgs { config_file: Some(file.clone()), ..Default::default() }),
        format!(
            "--config-file {}: invalid value '10' for link config consumer.offset.sync.ms: must be between 1000 and 2147483647",
            file.display()
        )
    );

    let file = write(
        &dir,
        "escape.config",
        "bootstrap.servers=src:9092\nx=\\u12\n",
    );
    assert_eq!(
        usage(&LinkConfigArgs {
            config_file: Some(file.clone()),
            ..Default::default()
        }),
        format!(
            "--config-file {}: line 2: malformed \\u escape '\\u12'",
            file.display()
        )
    );

    assert_eq!(
        usage(&LinkConfigArgs {
            config: vec!["bootstrap.servers=nohost".into()],
            ..Default::default()
        }),
        "--config: invalid value 'nohost' for link config bootstrap.servers: expected host:port"
    );

    assert_eq!(
        usage(&LinkConfigArgs {
            config: vec!["bootstrap.servers=a:1,acl.sync.enable=true".into()],
            ..Default::default()
        }),
        "ACL migration is enabled but acl.filters is not set: set acl.filters (--acl-filters-json-file) or acl.sync.enable=false"
    );

    assert_eq!(
        usage(&LinkConfigArgs {
            config: vec![format!("bootstrap.servers=a:1,acl.filters={ACL}")],
            filters: FilterArgs {
                acl_filters_json: Some(ACL.into()),
                ..Default::default()
            },
            ..Default::default()
        }),
        "acl.filters is set both by --config and by --acl-filters-json; give it once"
    );

    assert_eq!(
        usage(&LinkConfigArgs {
            config: vec!["bootstrap.servers=a:1".into()],
            filters: FilterArgs {
                consumer_group_filters_json: Some(r#"{"groupFilters":[{"name":"g","color":"red"}]}"#.into()),
                ..Default::default()
            },
            ..Default::default()
        }),
        "--consumer-group-filters-json: invalid consumer group filters (consumer.offset.group.filters): unknown field `color`, expected one of `name`, `patternType`, `filterType` at line 1 column 36"
    );

    let both = write(&dir, "t.json", "{}");
    assert_eq!(
        usage(&LinkConfigArgs {
            filters: FilterArgs {
                topic_filters_json_file: Some(both),
                topic_filters_json: Some("{}".into()),
                ..Default::default()
            },
            ..Default::default()
        }),
        "give only one of --topic-filters-json-file and --topic-filters-json"
    );

    // A filter that came from the config file is blamed on the file.
    let file = write(
        &dir,
        "filters.config",
        "bootstrap.servers=a:1\nacl.filters={\"aclFilters\":null}\n",
    );
    let m = usage(&LinkConfigArgs {
        config_file: Some(file.clone()),
        ..Default::default()
    });
    assert!(
        m.starts_with(&format!(
            "--config-file {}: invalid ACL filters (acl.filters): ",
            file.display()
        )),
        "{m}"
    );

    assert_eq!(
        usage(&LinkConfigArgs {
            config: vec![SECRET.into()],
            ..Default::default()
        }),
        "--config: entry 1 is not key=value"
    );
    assert_eq!(
        usage(&LinkConfigArgs::default()),
        "missing required link config 'bootstrap.servers' (set it in --config-file or with --config bootstrap.servers=...)"
    );
    let missing = dir.path().join("nope.config");
    assert_eq!(
        usage(&LinkConfigArgs {
            config_file: Some(missing.clone()),
            ..Default::default()
        }),
        format!(
            "--config-file {}: cannot read: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

#[test]
fn client_setup_warns_on_unknown_keys_and_names_bad_ones() {
    use strait_tools::connect::client_setup;
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "dst.config", "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";\nlinger.ms=5\nbootstrap.servers=ignored:1\n");
    let setup = client_setup("dst:9092", Some(&f)).unwrap();
    assert_eq!(setup.config.bootstrap_servers, vec!["dst:9092"]);
    assert_eq!(
        setup.warnings,
        vec![format!(
            "--command-config {}: ignoring unknown client property 'linger.ms'",
            f.display()
        )]
    );
    let bad = write(&dir, "bad.config", "security.protocol=CARRIER_PIGEON\n");
    let e = client_setup("dst:9092", Some(&bad)).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().starts_with(&format!(
            "--command-config {}: security.protocol:",
            bad.display()
        )),
        "{e}"
    );
    let e = client_setup("no-port", None).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().starts_with("--bootstrap-server 'no-port':"),
        "{e}"
    );
}

#[test]
fn unimplemented_link_configs_are_refused_naming_the_key() {
    for (entry, expected) in [
        (
            "connection.mode=INBOUND",
            "link config bootstrap.servers does not apply to a connection.mode=INBOUND link: the source cluster connects to this one (its SOURCE link's local.* keys authenticate to the source)",
        ),
        (
            "connections.max.idle.ms=1000",
            "--config: invalid value '1000' for link config connections.max.idle.ms: not supported: the link keeps its source connections open while it runs; idle connections are not closed",
        ),
        (
            "num.cluster.link.fetchers=0",
            "--config: invalid value '0' for link config num.cluster.link.fetchers: must be between 1 and 256",
        ),
    ] {
        assert_eq!(
            usage(&LinkConfigArgs {
                config: vec![format!("bootstrap.servers=a:1,{entry}")],
                ..Default::default()
            }),
            expected
        );
    }
    // A refused secret is named and never shown.
    let m = usage(&LinkConfigArgs {
        config: vec![format!(
            "bootstrap.servers=a:1,local.sasl.jaas.config={SECRET}"
        )],
        ..Default::default()
    });
    assert!(m.contains("local.sasl.jaas.config"), "{m}");
    // Strait's own behaviour, named explicitly, is accepted.
    let entries = build_link_configs(&LinkConfigArgs {
        config: vec!["bootstrap.servers=a:1,link.mode=DESTINATION,connection.mode=OUTBOUND,num.cluster.link.fetchers=3,cluster.link.retry.timeout.ms=1000,availability.check.ms=500,availability.check.consecutive.failure.threshold=2".into()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        value(&entries, "num.cluster.link.fetchers").as_deref(),
        Some("3")
    );
}
