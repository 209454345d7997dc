//! Argv normalisation: Confluent's flag form and the subcommand form parse to the same
//! command, wherever the operation flag sits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use strait_tools::argv::ParseError;
use strait_tools::{cluster_links, mirrors, ToolError};

fn links(args: &[&str]) -> cluster_links::Cli {
    let mut v = vec!["cluster-links"];
    v.extend_from_slice(args);
    match cluster_links::parse(v) {
        Ok(c) => c,
        Err(ParseError::Usage(e)) => panic!("{e}"),
        Err(ParseError::Clap(e)) => panic!("{e}"),
    }
}

fn mirrors_cli(args: &[&str]) -> mirrors::Cli {
    let mut v = vec!["mirrors"];
    v.extend_from_slice(args);
    match mirrors::parse(v) {
        Ok(c) => c,
        Err(ParseError::Usage(e)) => panic!("{e}"),
        Err(ParseError::Clap(e)) => panic!("{e}"),
    }
}

fn links_usage_error(args: &[&str]) -> ToolError {
    let mut v = vec!["cluster-links"];
    v.extend_from_slice(args);
    match cluster_links::parse(v) {
        Err(ParseError::Usage(e)) => e,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn seed_create_line_parses_like_the_subcommand_form() {
    let seed = links(&[
        "--bootstrap-server",
        "dst:9092",
        "--command-config",
        "/tmp/destination.config",
        "--create",
        "--link",
        "test-cluster-link",
        "--config-file",
        "/tmp/source.config",
        "--topic-filters-json-file",
        "/tmp/topic_filter.json",
        "--consumer-group-filters-json-file",
        "/tmp/group.json",
        "--acl-filters-json-file",
        "/tmp/acl.json",
    ]);
    let sub = links(&[
        "create",
        "--link",
        "test-cluster-link",
        "--bootstrap-server",
        "dst:9092",
        "--command-config",
        "/tmp/destination.config",
        "--config-file",
        "/tmp/source.config",
        "--topic-filters-json-file",
        "/tmp/topic_filter.json",
        "--consumer-group-filters-json-file",
        "/tmp/group.json",
        "--acl-filters-json-file",
        "/tmp/acl.json",
    ]);
    assert_eq!(seed, sub);
    let cluster_links::Command::Create(c) = seed.command else {
        panic!()
    };
    assert_eq!(c.link, "test-cluster-link");
    assert_eq!(c.common.bootstrap_server, "dst:9092");
    assert!(!c.validate_only && !c.exclude_validate_link);
}

#[test]
fn every_cluster_links_operation_in_both_forms() {
    for (flag, word) in [
        ("--list", "list"),
        ("--describe", "describe"),
        ("--delete", "delete"),
    ] {
        let extra: &[&str] = if word == "list" {
            &[]
        } else {
            &["--link", "l"]
        };
        let mut a = vec!["--bootstrap-server", "b:1", flag];
        a.extend_from_slice(extra);
        let mut b = vec![word, "--bootstrap-server", "b:1"];
        b.extend_from_slice(extra);
        // The subcommand word may also come after the common flags.
        let mut c = vec!["--bootstrap-server", "b:1", word];
        c.extend_from_slice(extra);
        assert_eq!(links(&a), links(&b), "{flag}");
        assert_eq!(links(&c), links(&b), "{word}");
    }
}

#[test]
fn link_name_alias_and_values_that_look_like_subcommands() {
    // `--link-name` is the 2020 spelling.
    assert_eq!(
        links(&["--delete", "--link-name", "l", "--bootstrap-server", "b:1"]),
        links(&["delete", "--link", "l", "--bootstrap-server", "b:1"])
    );
    // A link named "create" is a value, not the operation.
    let c = links(&[
        "--bootstrap-server",
        "b:1",
        "--delete",
        "--link",
        "create",
        "--force",
    ]);
    let cluster_links::Command::Delete(d) = c.command else {
        panic!()
    };
    assert_eq!(d.link, "create");
    assert!(d.force);
    let c = links(&["--bootstrap-server", "b:1", "--link", "list", "describe"]);
    assert!(matches!(c.command, cluster_links::Command::Describe(ref d) if d.link == "list"));
}

#[test]
fn config_takes_several_values_and_repeats() {
    let c = links(&[
        "--create",
        "--link",
        "l",
        "--bootstrap-server",
        "b:1",
        "--config",
        "a=1,b=2",
        "c=3",
        "--config",
        "d=x=y",
    ]);
    let cluster_links::Command::Create(c) = c.command else {
        panic!()
    };
    assert_eq!(c.config, vec!["a=1,b=2", "c=3", "d=x=y"]);
}

#[test]
fn conflicting_or_missing_operations_are_usage_errors() {
    assert_eq!(
        links_usage_error(&["--create", "--list", "--bootstrap-server", "b:1"]),
        ToolError::usage("give only one operation: both --create and --list were given")
    );
    assert_eq!(
        links_usage_error(&["list", "--delete", "--bootstrap-server", "b:1"]),
        ToolError::usage("give only one operation: both 'list' and --delete were given")
    );
    assert_eq!(
        links_usage_error(&["--bootstrap-server", "b:1"]),
        ToolError::usage(
            "no operation given: use one of --create, --list, --describe, --delete, --alter \
             (or a subcommand: create, list, describe, delete, alter)"
        )
    );
    assert_eq!(
        links_usage_error(&["--bootstrap-server", "b:1"]).exit_code(),
        2
    );
    // Same operation twice in both spellings is fine.
    assert_eq!(
        links(&["list", "--list", "--bootstrap-server", "b:1"]),
        links(&["list", "--bootstrap-server", "b:1"])
    );
}

#[test]
fn clap_errors_and_help_keep_their_exit_codes() {
    let Err(ParseError::Clap(e)) = cluster_links::parse(["cluster-links", "--list"]) else {
        panic!("missing --bootstrap-server must fail")
    };
    assert_eq!(e.exit_code(), 2);
    let Err(ParseError::Clap(e)) = cluster_links::parse(["cluster-links", "--help"]) else {
        panic!()
    };
    assert_eq!(e.exit_code(), 0);
    let Err(ParseError::Clap(e)) = mirrors::parse(["mirrors", "--promote", "--help"]) else {
        panic!()
    };
    assert_eq!(e.exit_code(), 0);
}

#[test]
fn mirrors_operations_in_both_forms() {
    let seed = mirrors_cli(&[
        "--promote",
        "--topics",
        "test-topic",
        "--bootstrap-server",
        "dst:9092",
        "--command-config",
        "/tmp/destination.config",
    ]);
    let sub = mirrors_cli(&[
        "promote",
        "--bootstrap-server",
        "dst:9092",
        "--command-config",
        "/tmp/destination.config",
        "--topics",
        "test-topic",
    ]);
    assert_eq!(seed, sub);
    let mirrors::Command::Promote(p) = seed.command else {
        panic!()
    };
    assert_eq!(p.alter.selection.topics, vec!["test-topic"]);
    assert!(!p.wait);
    assert_eq!(p.timeout_ms, 300_000);

    for (flag, word) in [
        ("--failover", "failover"),
        ("--pause", "pause"),
        ("--resume", "resume"),
        ("--unpause", "resume"),
        ("--unpause", "unpause"),
    ] {
        assert_eq!(
            mirrors_cli(&[flag, "--link", "l", "--bootstrap-server", "b:1"]),
            mirrors_cli(&[word, "--link", "l", "--bootstrap-server", "b:1"]),
            "{flag}"
        );
    }
    assert_eq!(
        mirrors_cli(&[
            "--describe",
            "--topics",
            "a,b",
            "--topics",
            "c",
            "--bootstrap-server",
            "b:1"
        ]),
        mirrors_cli(&[
            "describe",
            "--topics",
            "a",
            "b",
            "c",
            "--bootstrap-server",
            "b:1"
        ])
    );
    assert_eq!(
        mirrors_cli(&["--list", "--links", "l", "--bootstrap-server", "b:1"]),
        mirrors_cli(&["list", "--link", "l", "--bootstrap-server", "b:1"])
    );
    let c = mirrors_cli(&[
        "--create",
        "--mirror-topic",
        "t",
        "--link",
        "l",
        "--bootstrap-server",
        "b:1",
        "--replication-factor",
        "1",
    ]);
    let mirrors::Command::Create(c) = c.command else {
        panic!()
    };
    assert_eq!(
        (c.mirror_topic.as_str(), c.replication_factor),
        ("t", Some(1))
    );
}

#[test]
fn mirrors_selection_is_topics_xor_link() {
    for args in [
        vec!["mirrors", "--promote", "--bootstrap-server", "b:1"],
        vec![
            "mirrors",
            "--promote",
            "--topics",
            "t",
            "--link",
            "l",
            "--bootstrap-server",
            "b:1",
        ],
    ] {
        let Err(ParseError::Clap(e)) = mirrors::parse(args.clone()) else {
            panic!("{args:?} must fail")
        };
        assert_eq!(e.exit_code(), 2);
    }
    // --wait belongs to promote and failover only.
    assert!(matches!(
        mirrors::parse([
            "mirrors",
            "--pause",
            "--link",
            "l",
            "--wait",
            "--bootstrap-server",
            "b:1"
        ]),
        Err(ParseError::Clap(_))
    ));
}

#[test]
fn no_panics_on_odd_argv() {
    let odd: &[&[&str]] = &[
        &[],
        &["cluster-links"],
        &["cluster-links", "--"],
        &["cluster-links", "--", "--create"],
        &["cluster-links", "--link"],
        &["cluster-links", "--create", "--link"],
        &["cluster-links", "--config=a=b", "--create"],
        &["cluster-links", "create", "create", "create"],
        &["cluster-links", "", "--list"],
    ];
    for args in odd {
        let _ = cluster_links::parse(args.iter().copied());
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let bad = std::ffi::OsString::from_vec(vec![0xff, 0xfe]);
        let _ = cluster_links::parse(vec!["cluster-links".into(), bad, "--list".into()]);
    }
}

#[test]
fn failback_verbs_parse_in_both_forms() {
    let flag = mirrors_cli(&[
        "--bootstrap-server",
        "a:1",
        "--truncate-and-restore",
        "--topics",
        "t,u",
        "--link",
        "from-b",
        "--dry-run",
    ]);
    let sub = mirrors_cli(&[
        "truncate-and-restore",
        "--bootstrap-server",
        "a:1",
        "--topics",
        "t",
        "--topics",
        "u",
        "--link",
        "from-b",
        "--validate-only",
    ]);
    assert_eq!(flag, sub);
    let mirrors::Command::TruncateAndRestore(a) = flag.command else {
        panic!("{flag:?}")
    };
    let req = mirrors::restore_request(&a).unwrap();
    assert_eq!(req.topics, vec!["t", "u"]);
    assert_eq!(req.link_name, "from-b");
    assert!(req.validate_only && !req.pause);

    let c = mirrors_cli(&[
        "--reverse-and-pause",
        "--topics",
        "t",
        "--link",
        "l",
        "--remote-link",
        "back",
        "--bootstrap-server",
        "b:1",
    ]);
    let mirrors::Command::ReverseAndPause(a) = c.command else {
        panic!("{c:?}")
    };
    let req = mirrors::reverse_request(&a, true).unwrap();
    assert_eq!(req.remote_link_name.as_deref(), Some("back"));
    assert!(req.pause_remote);
    let c = mirrors_cli(&[
        "--reverse-and-start",
        "--topics",
        "t",
        "--link",
        "l",
        "--bootstrap-server",
        "b:1",
    ]);
    let mirrors::Command::ReverseAndStart(a) = c.command else {
        panic!("{c:?}")
    };
    assert_eq!(
        mirrors::reverse_request(&a, false)
            .unwrap()
            .remote_link_name,
        None
    );
    // --link is required.
    assert!(matches!(
        mirrors::parse([
            "mirrors",
            "--truncate-and-restore",
            "--topics",
            "t",
            "--bootstrap-server",
            "a:1"
        ]),
        Err(ParseError::Clap(_))
    ));
}
