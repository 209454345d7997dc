//! Usage errors exit 2 and send nothing; a broker without Strait's admin API, or none at
//! all, exits 1.

use super::*;

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"topicFilters":[{"name":"x","patternType":"REGEX"}]}"#,
    )
    .unwrap();
    let bad = bad.display().to_string();
    let server = FakeServer::start(|req| panic!("nothing should be sent: {req:?}"));
    let a = server.addr.as_str();
    let cases: Vec<(Run, String)> = vec![
        (
            cluster_links(&["--create", "--link", "l", "--bootstrap-server", a, "--config", "bootstrap.servers=a:1,foo=bar"]),
            "Error: --config: unknown link config 'foo'\n".into(),
        ),
        (
            cluster_links(&["--create", "--link", "l", "--bootstrap-server", a, "--config", "bootstrap.servers=a:1", "--topic-filters-json-file", &bad]),
            format!("Error: --topic-filters-json-file {bad}: invalid topic filters (auto.create.mirror.topics.filters): topicFilters[0]: patternType 'REGEX' is not LITERAL or PREFIXED\n"),
        ),
        (
            cluster_links(&["--create", "--link", "l", "--bootstrap-server", a]),
            "Error: missing required link config 'bootstrap.servers' (set it in --config-file or with --config bootstrap.servers=...)\n".into(),
        ),
        (
            cluster_links(&["--create", "--delete", "--link", "l", "--bootstrap-server", a]),
            "Error: give only one operation: both --create and --delete were given\n".into(),
        ),
        (
            cluster_links(&["--list", "--bootstrap-server", a, "--command-config", "/nonexistent/dst.config"]),
            "Error: --command-config /nonexistent/dst.config: cannot read: No such file or directory (os error 2)\n".into(),
        ),
        (
            mirrors(&["--create", "--mirror-topic", "t", "--link", "l", "--replication-factor", "3", "--bootstrap-server", a]),
            "Error: --replication-factor 3: Strait keeps one replica per partition; omit the flag or pass 1\n".into(),
        ),
        (
            mirrors(&["--truncate-and-restore", "--topics", " ", "--link", "l", "--bootstrap-server", a]),
            "Error: --topics names no topic\n".into(),
        ),
    ];
    for (run, expected) in cases {
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stderr, expected);
        assert_eq!(run.stdout, "");
    }
    // clap's own errors are exit 2 as well.
    let run = mirrors(&["--promote", "--bootstrap-server", a]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("required arguments were not provided"),
        "{}",
        run.stderr
    );
    let run = cluster_links(&["--list", "--bootstrap-server", a, "--output", "yaml"]);
    assert_eq!(run.code, 2);
    assert!(server.requests().is_empty());
}

#[test]
fn broker_without_the_admin_api_or_unreachable_exits_1() {
    let server = FakeServer::start_with(|req| panic!("unexpected {req:?}"), false);
    let run = cluster_links(&["--list", "--bootstrap-server", &server.addr]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "does not support Strait's admin API key 20001 v0 (it does not advertise it)"
        ),
        "{}",
        run.stderr
    );
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let run = mirrors(&["--list", "--bootstrap-server", &addr]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("Error: cannot reach the destination cluster"),
        "{}",
        run.stderr
    );
}
