//! Rendering of canned responses: tables, JSON, and which items count as errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use strait_protocol::admin::*;
use strait_tools::{cluster_links, mirrors, OutputFormat};

fn link() -> ClusterLinkListing {
    ClusterLinkListing {
        name: "l".into(),
        link_id: "5f0c".into(),
        source_cluster_id: None,
        state: "UNAVAILABLE".into(),
        error: Some("AUTHENTICATION_ERROR".into()),
        error_message: Some("SASL authentication failed\nfor user u".into()),
        topics: vec![],
        configs: vec![
            ConfigEntry {
                name: "acl.filters".into(),
                value: Some("{\n \"aclFilters\": []\n}".into()),
                sensitive: false,
            },
            ConfigEntry {
                name: "bootstrap.servers".into(),
                value: Some("src:9092".into()),
                sensitive: false,
            },
            ConfigEntry {
                name: "sasl.jaas.config".into(),
                value: None,
                sensitive: true,
            },
        ],
        ..Default::default()
    }
}

#[test]
fn cluster_link_describe_table() {
    assert_eq!(
        cluster_links::render_describe(&link(), OutputFormat::Table),
        "LinkName:         l\n\
         LinkId:           5f0c\n\
         SourceClusterId:  -\n\
         State:            UNAVAILABLE\n\
         SyncStatus:       - (max lag 0 offsets, 0 ms)\n\
         Error:            AUTHENTICATION_ERROR: SASL authentication failed for user u\n\
         MirrorTopics:     -\n\
         Configs:\n\
         \x20 Name               Value\n\
         \x20 acl.filters        { \"aclFilters\": [] }\n\
         \x20 bootstrap.servers  src:9092\n\
         \x20 sasl.jaas.config   [hidden]\n"
    );
}

#[test]
fn cluster_link_list_and_json() {
    let mut other = link();
    other.name = "m".into();
    other.state = "ACTIVE".into();
    other.error = None;
    other.topics = vec!["a".into(), "b".into()];
    assert_eq!(
        cluster_links::render_list(&[link(), other.clone()], true, OutputFormat::Table),
        "LinkName  LinkId  SourceClusterId  State        SyncStatus  MaxLag  Error                 Topics\n\
         l         5f0c    -                UNAVAILABLE  -           0       AUTHENTICATION_ERROR  -\n\
         m         5f0c    -                ACTIVE       -           0       -                     a,b\n"
    );
    assert_eq!(
        cluster_links::render_list(&[], false, OutputFormat::Table),
        "No cluster links found.\n"
    );
    assert_eq!(
        cluster_links::render_list(&[], false, OutputFormat::Json),
        "[]\n"
    );
    let v: serde_json::Value = serde_json::from_str(&cluster_links::render_list(
        &[other],
        true,
        OutputFormat::Json,
    ))
    .unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "link_name": "m", "link_id": "5f0c", "source_cluster_id": null, "state": "ACTIVE",
            "error": null, "error_message": "SASL authentication failed\nfor user u",
            "topics": ["a", "b"], "configs": [], "sync_status": "", "max_lag": 0,
            "max_lag_ms": 0, "tasks": []
        }])
    );
    let v: serde_json::Value =
        serde_json::from_str(&cluster_links::render_describe(&link(), OutputFormat::Json)).unwrap();
    assert_eq!(
        v["configs"][2],
        serde_json::json!({"name": "sasl.jaas.config", "value": null, "sensitive": true})
    );
}

#[test]
fn create_and_delete_results() {
    let ok = ItemResult {
        name: "l".into(),
        error_code: 0,
        error_message: None,
        aborted_transactions: Vec::new(),
    };
    let r =
        cluster_links::render_create("l", false, std::slice::from_ref(&ok), OutputFormat::Table);
    assert_eq!(r.out, "Cluster link 'l' creation successfully completed.\n");
    assert!(r.errors.is_empty());
    let r = cluster_links::render_delete("l", true, std::slice::from_ref(&ok), OutputFormat::Table);
    assert_eq!(
        r.out,
        "Cluster link 'l' validation successfully completed.\n"
    );

    let bad = ItemResult {
        name: "l".into(),
        error_code: 58,
        error_message: None,
        aborted_transactions: Vec::new(),
    };
    let r = cluster_links::render_create("l", false, &[bad], OutputFormat::Table);
    assert_eq!(r.out, "");
    assert_eq!(
        r.errors,
        vec!["cluster link 'l': SaslAuthenticationFailed (error code 58)"]
    );

    // A broker that answers about the wrong link is an error too.
    let r = cluster_links::render_delete("l", false, &[], OutputFormat::Table);
    assert_eq!(
        r.errors,
        vec!["the broker returned no result for cluster link 'l'"]
    );

    let r = cluster_links::render_create("l", false, &[ok], OutputFormat::Json);
    let v: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"operation": "create", "validate_only": false,
            "results": [{"name": "l", "error_code": 0, "error": null, "error_message": null}]})
    );
}

fn failed_mirror() -> MirrorDescription {
    MirrorDescription {
        mirror_topic: "orders".into(),
        link_name: "l".into(),
        source_topic: "orders".into(),
        state: "FAILED".into(),
        reason: Some("SOURCE_TOPIC_MAY_BE_DELETED".into()),
        reason_message: Some("source topic 'orders' not found".into()),
        state_time_ms: 42,
        num_partitions: 2,
        partitions: vec![
            MirrorPartition {
                partition: 0,
                state: "FAILED".into(),
                log_end_offset: 100,
                source_high_watermark: -1,
                lag: 0,
                lag_ms: -1,
                time_since_last_fetch_ms: -1,
                error: Some("UNKNOWN_TOPIC_OR_PARTITION".into()),
                aborted_transactions: None,
                error_reason: None,
                error_since_ms: None,
            },
            MirrorPartition {
                partition: 1,
                state: "FAILED".into(),
                log_end_offset: 7,
                source_high_watermark: 9,
                lag: 2,
                lag_ms: 1500,
                time_since_last_fetch_ms: 60000,
                error: None,
                aborted_transactions: None,
                error_reason: None,
                error_since_ms: None,
            },
        ],
        origin_cluster_ids: None,
    }
}

#[test]
fn mirror_describe_and_list() {
    assert_eq!(
        mirrors::render_describe(&[failed_mirror()], OutputFormat::Table),
        "Topic: orders  LinkName: l  SourceTopic: orders  State: FAILED  Partitions: 2  StateTimeMs: 42  Reason: SOURCE_TOPIC_MAY_BE_DELETED: source topic 'orders' not found\n\
         \x20 Partition  State   LocalLogEndOffset  LastFetchSourceHighWatermark  Lag  LagMs  TimeSinceLastFetchMs  Error\n\
         \x20 0          FAILED  100                -                             0    -      -                     UNKNOWN_TOPIC_OR_PARTITION\n\
         \x20 1          FAILED  7                  9                             2    1500   60000                 -\n"
    );
    assert_eq!(
        mirrors::render_list(&[failed_mirror()], OutputFormat::Table),
        "Topic   LinkName  SourceTopic  State   Partitions  Reason\n\
         orders  l         orders       FAILED  2           SOURCE_TOPIC_MAY_BE_DELETED: source topic 'orders' not found\n"
    );
    assert_eq!(
        mirrors::render_describe(&[], OutputFormat::Table),
        "No mirror topics found.\n"
    );
    let v: serde_json::Value = serde_json::from_str(&mirrors::render_describe(
        &[failed_mirror()],
        OutputFormat::Json,
    ))
    .unwrap();
    assert_eq!(v[0]["max_lag"], 2);
    assert_eq!(v[0]["max_lag_ms"], 1500);
    assert_eq!(
        v[0]["partitions"][0]["last_fetch_source_high_watermark"],
        -1
    );
    assert_eq!(v[0]["partitions"][1]["local_log_end_offset"], 7);
    let v: serde_json::Value = serde_json::from_str(&mirrors::render_list(
        &[failed_mirror()],
        OutputFormat::Json,
    ))
    .unwrap();
    assert_eq!(v[0]["partitions"], serde_json::json!([]));
    assert_eq!(
        mirrors::progress_line(&failed_mirror()),
        "orders: FAILED, max lag 2 messages (1500 ms)"
    );
}

#[test]
fn alter_results_mix_success_and_failure() {
    let results = vec![
        ItemResult {
            name: "a".into(),
            error_code: 0,
            error_message: None,
            aborted_transactions: Vec::new(),
        },
        ItemResult {
            name: "b".into(),
            error_code: 3,
            error_message: Some("not a mirror topic".into()),
            aborted_transactions: Vec::new(),
        },
    ];
    let r = mirrors::render_alter(MirrorOp::Failover, false, &results, OutputFormat::Table);
    assert_eq!(
        r.out,
        "Request for stopping topic a's mirror was successfully scheduled. Please use the describe command with the --pending-stopped-only option to monitor progress.\n"
    );
    assert_eq!(r.errors, vec!["mirror topic 'b': not a mirror topic"]);
    let r = mirrors::render_alter(MirrorOp::Promote, true, &results[..1], OutputFormat::Table);
    assert_eq!(
        r.out,
        "Validation of stopping topic a's mirror successfully completed.\n"
    );
    let r = mirrors::render_alter(MirrorOp::Pause, false, &[], OutputFormat::Table);
    assert_eq!(r.out, "No mirror topics matched.\n");
    let r = mirrors::render_alter(MirrorOp::Resume, false, &results, OutputFormat::Json);
    let v: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(v["operation"], "resume");
    assert_eq!(v["results"][1]["error"], "UnknownTopicOrPartition");
    assert_eq!(r.errors.len(), 1);
}

#[test]
fn state_names_are_normalised() {
    assert_eq!(
        mirrors::normalize_state("pending_stopped").unwrap(),
        "PENDING_STOPPED"
    );
    assert_eq!(
        mirrors::normalize_state("Pending-Stopped").unwrap(),
        "PENDING_STOPPED"
    );
    assert_eq!(
        mirrors::normalize_state("bogus").unwrap_err().exit_code(),
        2
    );
}

#[test]
fn cutover_aborted_transactions_are_shown() {
    let stopped = MirrorDescription {
        mirror_topic: "t".into(),
        link_name: "l".into(),
        source_topic: "t".into(),
        state: "STOPPED".into(),
        num_partitions: 2,
        partitions: (0..2)
            .map(|p| MirrorPartition {
                partition: p,
                state: "STOPPED".into(),
                log_end_offset: 10,
                source_high_watermark: -1,
                lag: -1,
                lag_ms: -1,
                time_since_last_fetch_ms: -1,
                error: None,
                aborted_transactions: Some(i64::from(p) + 1),
                error_reason: None,
                error_since_ms: None,
            })
            .collect(),
        ..Default::default()
    };
    let table = mirrors::render_describe(std::slice::from_ref(&stopped), OutputFormat::Table);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[1].trim_end().ends_with("AbortedTransactions"),
        "{table}"
    );
    assert!(lines[2].trim_end().ends_with('1'), "{table}");
    assert!(lines[3].trim_end().ends_with('2'), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&mirrors::render_describe(&[stopped], OutputFormat::Json)).unwrap();
    assert_eq!(json[0]["partitions"][1]["aborted_transactions"], 2);

    let results = [ItemResult {
        name: "t".into(),
        aborted_transactions: vec![
            PartitionCount {
                partition: 0,
                count: 1,
            },
            PartitionCount {
                partition: 1,
                count: 2,
            },
        ],
        ..Default::default()
    }];
    let r = mirrors::render_alter(MirrorOp::Failover, false, &results, OutputFormat::Table);
    assert!(
        r.out.ends_with(
            "Aborted 3 open mirrored transaction(s) of topic t (partition 0: 1, partition 1: 2).\n"
        ),
        "{}",
        r.out
    );
    let r = mirrors::render_alter(MirrorOp::Failover, false, &results, OutputFormat::Json);
    let json: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        json["results"][0]["aborted_transactions"][1]["aborted_transactions"],
        2
    );
}

#[test]
fn partitions_in_error_are_shown_with_their_reason() {
    let m = MirrorDescription {
        mirror_topic: "t".into(),
        link_name: "l".into(),
        source_topic: "t".into(),
        state: "ACTIVE".into(),
        num_partitions: 2,
        partitions: vec![
            MirrorPartition {
                partition: 0,
                state: "ACTIVE".into(),
                ..Default::default()
            },
            MirrorPartition {
                partition: 1,
                state: "IN_ERROR".into(),
                error: Some("injected append fault\non t-1".into()),
                error_reason: Some("LOCAL_STORAGE_ERROR".into()),
                error_since_ms: Some(99),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let text = mirrors::render_describe(std::slice::from_ref(&m), OutputFormat::Table);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(row.contains("IN_ERROR"), "{text}");
    assert!(
        row.ends_with("LOCAL_STORAGE_ERROR: injected append fault on t-1"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&mirrors::render_describe(&[m], OutputFormat::Json)).unwrap();
    assert_eq!(v[0]["partitions"][1]["error_reason"], "LOCAL_STORAGE_ERROR");
    assert_eq!(v[0]["partitions"][1]["error_since_ms"], 99);
    assert!(v[0]["partitions"][0].get("error_reason").is_none());

    let mut l = link();
    l.partition_errors = vec![
        ReasonCount {
            reason: "LOCAL_STORAGE_ERROR".into(),
            count: 1,
        },
        ReasonCount {
            reason: "SOURCE_DATA_CORRUPT".into(),
            count: 2,
        },
    ];
    let text = cluster_links::render_describe(&l, OutputFormat::Table);
    assert!(
        text.contains("PartitionsInError:  3 (LOCAL_STORAGE_ERROR 1, SOURCE_DATA_CORRUPT 2)\n"),
        "{text}"
    );
    let list = cluster_links::render_list(&[l.clone(), link()], false, OutputFormat::Table);
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].ends_with("PartitionsInError"), "{list}");
    assert!(
        lines[1].ends_with("3 (LOCAL_STORAGE_ERROR 1, SOURCE_DATA_CORRUPT 2)"),
        "{list}"
    );
    assert!(lines[2].ends_with(" 0"), "{list}");
    let v: serde_json::Value =
        serde_json::from_str(&cluster_links::render_describe(&l, OutputFormat::Json)).unwrap();
    assert_eq!(v["partitions_in_error"], 3);
    assert_eq!(v["partition_errors"]["SOURCE_DATA_CORRUPT"], 2);
}

#[test]
fn failback_output_is_confluent_like() {
    use strait_protocol::mirror_admin::*;
    let req = RestoreMirrorsRequest {
        topics: vec!["orders".into(), "gone".into()],
        link_name: "from-b".into(),
        ..Default::default()
    };
    let resp = RestoreMirrorsResponse {
        error_code: 0,
        error_message: None,
        results: vec![
            RestoreResult {
                topic: "orders".into(),
                state: "ACTIVE".into(),
                partitions: vec![PartitionTruncation {
                    partition: 0,
                    offset_truncated_to: 10,
                    previous_end_offset: 13,
                    records_truncated: 3,
                }],
                clamped_offsets: vec![ClampedOffset {
                    group: "app".into(),
                    partition: 0,
                    from: 12,
                    to: 10,
                }],
                ..Default::default()
            },
            RestoreResult {
                topic: "gone".into(),
                error_code: 3,
                error_message: Some("topic 'gone' does not exist".into()),
                ..Default::default()
            },
        ],
    };
    let r = mirrors::render_restore(&req, &resp, OutputFormat::Table);
    assert_eq!(
        r.out,
        "Truncate and restore of mirror topic 'orders' over link 'from-b' completed: 3 messages truncated.\n\
         \x20 Partition  Offset Truncated To  Previous End Offset  Messages Truncated\n\
         \x20 0          10                   13                   3\n\
         Consumer group offsets beyond the truncation point were clamped:\n\
         \x20 Group  Partition  From  To\n\
         \x20 app    0          12    10\n\
         Mirror topic 'orders' is now ACTIVE, mirroring from link 'from-b'.\n"
    );
    assert_eq!(r.errors, vec!["topic 'gone' does not exist".to_string()]);
    let r = mirrors::render_restore(&req, &resp, OutputFormat::Json);
    let v: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(v[0]["messages_truncated"], 3);
    assert_eq!(
        v[0]["partition_level_truncation_data"][0]["offset_truncated_to"],
        10
    );
    assert_eq!(v[0]["clamped_consumer_offsets"][0]["from"], 12);
}
