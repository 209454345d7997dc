//! A quorum of one on real disk and a real listener: proposals, restart from the log,
//! snapshot + purge + restart, a torn tail after a crash, refusals by the image, and a data
//! directory of another cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;

use strait_quorum::{ProposeError, QuorumError};
use support::{single, WAIT};

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn proposals_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let quorum = single(dir.path(), |_| {}).await;
    let mut last = 0;
    for i in 0..40u32 {
        let applied = quorum
            .propose(format!("record-{i}").into_bytes())
            .await
            .unwrap();
        assert!(
            applied.index > last,
            "indexes must grow: {} after {last}",
            applied.index
        );
        assert_eq!(
            applied.reply,
            format!("applied {}", applied.index).into_bytes()
        );
        last = applied.index;
    }
    let before = quorum.read(|img| img.clone());
    assert_eq!(before.records.len(), 40);
    let d = quorum.describe().await;
    assert_eq!(d.leader_id, Some(1));
    assert_eq!(d.high_watermark, last + 1);
    assert_eq!(d.voters.len(), 1);
    assert_eq!(d.voters[0].log_end_offset, Some(last + 1));
    let epoch = d.leader_epoch;
    quorum.shutdown().await.unwrap();

    let quorum = single(dir.path(), |_| {}).await;
    assert!(
        quorum
            .wait_until(WAIT, |d| d.last_applied.is_some_and(|a| a >= last))
            .await
    );
    assert_eq!(quorum.read(|img| img.clone()), before);
    let d = quorum.describe().await;
    assert!(
        d.leader_epoch >= epoch,
        "epochs never go back: {} after {epoch}",
        d.leader_epoch
    );
    let next = quorum.propose(b"after restart".to_vec()).await.unwrap();
    assert!(next.index > last);
    assert_eq!(next.leader_epoch, d.leader_epoch);
    quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_records_take_an_index_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let quorum = single(dir.path(), |_| {}).await;
    quorum.propose(b"one".to_vec()).await.unwrap();
    let err = quorum.propose(b"reject me".to_vec()).await.unwrap_err();
    let ProposeError::Rejected { index, message } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("refusing reject me"), "{message}");
    assert_eq!(err.kafka_error_code(), 42);
    let two = quorum.propose(b"two".to_vec()).await.unwrap();
    assert_eq!(two.index, index + 1);
    assert_eq!(
        quorum.read(|img| img.payloads()),
        vec![b"one".to_vec(), b"two".to_vec()]
    );
    quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn snapshot_purges_the_log_and_restart_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let small = |c: &mut strait_quorum::QuorumConfig| {
        c.snapshot_every = 10;
        c.logs_kept_after_snapshot = 0;
        c.segment_bytes = 256;
    };
    let quorum = single(dir.path(), small).await;
    let mut last = 0;
    for i in 0..45u32 {
        last = quorum
            .propose(format!("r{i}").into_bytes())
            .await
            .unwrap()
            .index;
    }
    let purged = quorum
        .wait_until(WAIT, |d| {
            d.snapshot_index.is_some_and(|s| s + 10 > last)
                && d.purged_index.is_some_and(|p| p + 10 > last)
        })
        .await;
    assert!(purged, "{:?}", quorum.describe().await);
    assert!(dir.path().join("snapshot/current.snap").exists());
    // 45 entries in 256-byte segments made many files; the purge removed all the old ones.
    let left = segments(dir.path());
    assert!(left.len() <= 2, "segments left after purge: {left:?}");
    let before = quorum.read(|img| img.clone());
    quorum.shutdown().await.unwrap();

    let quorum = single(dir.path(), small).await;
    assert!(
        quorum
            .wait_until(WAIT, |d| d.last_applied.is_some_and(|a| a >= last))
            .await
    );
    assert_eq!(quorum.read(|img| img.clone()), before);
    assert_eq!(quorum.read(|img| img.records.len()), 45);
    quorum.propose(b"more".to_vec()).await.unwrap();
    quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn torn_tail_is_discarded_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let quorum = single(dir.path(), |_| {}).await;
    let mut last = 0;
    for i in 0..10u32 {
        last = quorum
            .propose(format!("r{i}").into_bytes())
            .await
            .unwrap()
            .index;
    }
    let before = quorum.read(|img| img.clone());
    quorum.shutdown().await.unwrap();
    // What a crash mid-append leaves: a frame header promising more bytes than were written.
    let tail = segments(dir.path()).pop().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&tail)
        .unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]).unwrap();
    drop(f);
    let len_with_tail = std::fs::metadata(&tail).unwrap().len();

    let quorum = single(dir.path(), |_| {}).await;
    assert!(
        quorum
            .wait_until(WAIT, |d| d.last_applied.is_some_and(|a| a >= last))
            .await
    );
    assert_eq!(quorum.read(|img| img.clone()), before);
    assert!(
        std::fs::metadata(&tail).unwrap().len() < len_with_tail,
        "torn bytes still there"
    );
    quorum.propose(b"after the crash".to_vec()).await.unwrap();
    quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_directory_of_another_cluster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let quorum = single(dir.path(), |_| {}).await;
    quorum.propose(b"mine".to_vec()).await.unwrap();
    quorum.shutdown().await.unwrap();

    let listener = tokio::net::TcpListener::bind(support::local())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let voters = std::collections::BTreeMap::from([(1, strait_quorum::VoterAddr::from(addr))]);
    let config = strait_quorum::QuorumConfig::new(1, "other-cluster", voters, dir.path(), addr);
    let err =
        strait_quorum::Quorum::open_with_listener(config, listener, support::Recorder::default())
            .await
            .err()
            .unwrap();
    assert!(
        matches!(err, QuorumError::InconsistentIdentity { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("'test-cluster'") && err.to_string().contains("'other-cluster'"),
        "{err}"
    );

    // The original identity still opens and still has its record.
    let quorum = single(dir.path(), |_| {}).await;
    assert!(quorum.wait_until(WAIT, |d| d.last_applied.is_some()).await);
    assert!(
        quorum
            .wait_until(WAIT, |_| quorum.read(|img| img.records.len() == 1))
            .await
    );
    quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn wait_until_gives_up_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let quorum = single(dir.path(), |_| {}).await;
    let never = quorum
        .wait_until(std::time::Duration::from_millis(300), |d| {
            d.leader_id == Some(7)
        })
        .await;
    assert!(!never);
    quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn open_binds_its_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    // The voters entry for this node is where peers would dial it; a quorum of one never
    // dials itself, so any address will do next to a port-0 listen address.
    let voters = strait_quorum::parse_voters("1@127.0.0.1:9093").unwrap();
    let config =
        strait_quorum::QuorumConfig::new(1, "test-cluster", voters, dir.path(), support::local());
    let quorum = strait_quorum::Quorum::open(config, support::Recorder::default())
        .await
        .unwrap();
    assert_ne!(quorum.local_addr().unwrap().port(), 0);
    tokio::net::TcpStream::connect(quorum.local_addr().unwrap())
        .await
        .unwrap();
    assert!(quorum.wait_until(WAIT, |d| d.is_leader).await);
    assert_eq!(quorum.leader().map(|(id, _)| id), Some(1));
    assert!(quorum.is_leader());
    quorum.propose(b"x".to_vec()).await.unwrap();
    quorum.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_on_the_quorum_port_is_dropped_and_harms_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let quorum = single(dir.path(), |_| {}).await;
    // A frame length far past the limit, then a well-sized frame that is not a handshake.
    for bytes in [
        vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        vec![0, 0, 0, 3, 0xde, 0xad, 0xbe],
    ] {
        let mut stream = tokio::net::TcpStream::connect(quorum.local_addr().unwrap())
            .await
            .unwrap();
        stream.write_all(&bytes).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap();
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "the listener must close the connection: {read:?}"
        );
    }
    assert_eq!(
        quorum.describe().await.refused_connections,
        0,
        "garbage is not a handshake refusal"
    );
    quorum.propose(b"still fine".to_vec()).await.unwrap();
    quorum.shutdown().await.unwrap();
}

/// A lone voter opened without a listener binds nothing, leads as soon as `wait_ready`
/// returns (fresh and after a restart, without sitting out an election timeout), and its
/// image holds every record committed before the restart.
#[tokio::test]
async fn lone_voter_without_listener_is_ready_at_once_and_after_restart() {
    use std::collections::BTreeMap;
    use std::time::Duration;
    use strait_quorum::{Quorum, QuorumConfig, VoterAddr};
    support::logs();
    let dir = tempfile::tempdir().unwrap();
    let unbound: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let config = || {
        let voters = BTreeMap::from([(1, VoterAddr::from(unbound))]);
        let mut c = QuorumConfig::new(1, "test-cluster", voters, dir.path(), unbound);
        // An election timeout far beyond the wait below: only an immediate campaign passes.
        c.election_timeout_min = Duration::from_secs(60);
        c.election_timeout_max = Duration::from_secs(120);
        c
    };
    let ready_within = Duration::from_secs(20);
    let quorum = Quorum::open_single(config(), support::Recorder::default())
        .await
        .unwrap();
    assert_eq!(quorum.local_addr(), None);
    assert!(quorum.wait_ready(ready_within).await);
    for i in 0..5u8 {
        quorum.propose(vec![b'r', i]).await.unwrap();
    }
    let before = quorum.read(|i| i.payloads());
    quorum.shutdown().await.unwrap();

    let quorum = Quorum::open_single(config(), support::Recorder::default())
        .await
        .unwrap();
    assert!(quorum.wait_ready(ready_within).await);
    assert!(quorum.is_leader());
    assert_eq!(quorum.read(|i| i.payloads()), before);
    quorum.propose(b"after".to_vec()).await.unwrap();
    quorum.shutdown().await.unwrap();

    // Several voters need a listener.
    let voters = BTreeMap::from([(1, VoterAddr::from(unbound)), (2, VoterAddr::from(unbound))]);
    let c = QuorumConfig::new(1, "test-cluster", voters, dir.path(), unbound);
    assert!(matches!(
        Quorum::open_single(c, support::Recorder::default()).await,
        Err(QuorumError::Config(_))
    ));
}
