//! [`MetadataLog`]: the broker's handle on its metadata quorum — the one owner of cluster
//! metadata on disk. `TopicManager` commits every change through [`MetadataLog::commit`].
//!
//! Threading: the quorum (openraft's core, the disk log, proposals) runs on its own
//! single-threaded tokio runtime on a dedicated thread, `metadata-quorum`, owned by this
//! handle. `TopicManager`'s methods are sync and called from the broker's async handlers;
//! they hand a proposal to that runtime and wait on a channel for its outcome. They never
//! `block_on` the broker's runtime, which with one worker would wait on itself forever.
//!
//! Every applied entry is then handed to the registered publishers on the
//! `metadata-publisher` thread ([`super::publish`]); `commit` waits for that too.
//!
//! Invariants:
//! * A change is acknowledged ([`MetadataLog::commit`] returns `Ok`) only once its entry is
//!   durable, applied to the quorum's image and published (so the caller's topic map shows
//!   it), and that image equals the `next` the caller computed. The entry is checked
//!   against a copy of the image before it is proposed, so a translation bug is refused
//!   before anything is written; a mismatch after commit is reported (KAFKA_STORAGE_ERROR
//!   and an error log), never papered over. A publisher's failure on a committed entry is
//!   KAFKA_STORAGE_ERROR too (the change is durable; this broker did not fully apply it),
//!   and a publish slower than `PUBLISH_TIMEOUT` is REQUEST_TIMED_OUT.
//! * The quorum's applied image is the source of truth; changes are computed from it
//!   ([`MetadataLog::image`]) once everything applied is published
//!   ([`MetadataLog::catch_up`]).
//! * `commit` blocks its caller until the publisher thread has run: a caller must not hold
//!   a lock a publisher takes (a partition's log lock, for config changes and deletions).
//! * Opening returns once the entries replayed at start-up are through the publisher
//!   thread, so [`MetadataLog::published_image`] is the loaded image.
//! * Start-up of a single node waits until it leads and has applied everything committed,
//!   so the image read at start contains every change acknowledged before a crash. One
//!   voter of several ([`QuorumSetup`] with more than one voter) waits, however long it
//!   takes (logging "waiting for the metadata quorum" every few seconds), until it knows a
//!   leader and has applied every entry it knows committed: a lone node of three waits for
//!   its peers rather than fail.
//! * Several writers: with several voters, entries proposed by other nodes interleave with
//!   this node's. An entry is a diff computed against this node's image; applying it to a
//!   newer image is safe only when the image refuses what no longer fits (a topic created
//!   twice, a partition count that went down, producer ids moving back) — the image's
//!   apply is all-or-nothing, so such an entry is committed but changes nothing, and the
//!   proposer learns it from the reply (`ProposeError::Rejected`). After its entry is
//!   applied, [`MetadataLog::commit`] returns the applied image, which may hold other
//!   nodes' changes too ("the image moved on" is normal, not an error).
//! * Dropping the handle (or [`MetadataLog::close`]) stops the quorum and flushes its state.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use strait_protocol::ErrorCode;
use strait_quorum::{
    ProposeError, Quorum, QuorumConfig, QuorumDescription, QuorumError, VoterAddr,
};

use super::diff::diff;
use super::image::MetadataLogImage;
use super::migrate::{self, MigrateError, MigrationOutcome};
use super::publish::{self, MetadataPublisher, PublishWaitError, Publishing, PublishingImage};
use super::records::encode;
use crate::error::ApiError;
use crate::metadata::MetadataImage;

/// KRaft's name for the metadata log's topic; no client topic may take it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// The metadata log's directory inside `log.dirs` (KRaft's: `<topic>-0`).
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

/// How long start-up waits for the lone voter to lead and catch up on its own log.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a voter of several that has no leader yet says it is still waiting.
const WAITING_LOG_EVERY: Duration = Duration::from_secs(5);

/// How this node takes part in the metadata quorum (from [`crate::BrokerConfig`]); the
/// default is a single node, a quorum of itself that binds nothing.
#[derive(Debug, Clone)]
pub struct QuorumSetup {
    /// `--cluster-id`: formats a fresh directory; a directory of another cluster refuses.
    pub cluster_id: Option<String>,
    /// Every voter, this node included, when there are several; empty for a single node.
    pub voters: std::collections::BTreeMap<u64, VoterAddr>,
    /// Where this node serves the quorum (its controller listener) when there are several.
    pub listen_addr: Option<std::net::SocketAddr>,
    /// `controller.quorum.fetch.timeout.ms`: a follower that has not heard from the leader
    /// for this long starts an election.
    pub fetch_timeout: Duration,
    /// `controller.quorum.election.timeout.ms`: the random spread added on top of the fetch
    /// timeout, so voters rarely campaign at the same time.
    pub election_timeout: Duration,
}

impl Default for QuorumSetup {
    fn default() -> Self {
        QuorumSetup {
            cluster_id: None,
            voters: Default::default(),
            listen_addr: None,
            fetch_timeout: Duration::from_millis(2000),
            election_timeout: Duration::from_millis(1000),
        }
    }
}

impl QuorumSetup {
    /// The setup `config` describes; fails when the controller listener's host does not
    /// resolve.
    pub fn from_config(config: &crate::BrokerConfig) -> Result<Self, String> {
        let listen_addr = match config.quorum_listener() {
            Some(l) => {
                use std::net::ToSocketAddrs;
                let host = l.host.trim_start_matches('[').trim_end_matches(']');
                let addr = (host, l.port)
                    .to_socket_addrs()
                    .map_err(|e| format!("controller listener {l}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("controller listener {l}: no address"))?;
                Some(addr)
            }
            None => None,
        };
        Ok(QuorumSetup {
            cluster_id: config.cluster_id.clone(),
            voters: config.quorum_voters.clone(),
            listen_addr,
            fetch_timeout: Duration::from_millis(config.controller_quorum_fetch_timeout_ms),
            election_timeout: Duration::from_millis(config.controller_quorum_election_timeout_ms),
        })
    }

    fn is_multi_voter(&self) -> bool {
        self.voters.len() > 1
    }

    /// The quorum's timing, from Kafka's keys: openraft's election timeout (how long a
    /// follower goes without the leader's heartbeat before campaigning) is drawn from
    /// [fetch, fetch + election); the leader heartbeats several times per fetch timeout so
    /// one lost heartbeat does not start an election.
    fn apply_timing(&self, config: &mut QuorumConfig) {
        let min = self.fetch_timeout.max(Duration::from_millis(20));
        let spread = self.election_timeout.max(Duration::from_millis(10));
        config.election_timeout_min = min;
        config.election_timeout_max = min + spread;
        config.heartbeat_interval = (min / 5).max(Duration::from_millis(5));
    }
}
/// How long a commit waits for its applied entry to be published (opening a new topic's
/// logs); past it the change is durable but the answer is REQUEST_TIMED_OUT.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the metadata log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum MetadataLogError {
    #[error("metadata log {dir}: {source}")]
    Quorum { dir: PathBuf, source: QuorumError },
    #[error("metadata log {dir}: cannot start its thread: {source}")]
    Thread {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata log {dir}: {message}")]
    NotReady { dir: PathBuf, message: String },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

struct Running {
    quorum: Arc<Quorum<PublishingImage>>,
    runtime: tokio::runtime::Handle,
}

/// The broker's metadata log: a one-voter quorum on its own thread.
pub struct MetadataLog {
    dir: PathBuf,
    /// One voter of several: other nodes write too (see the module docs).
    multi_voter: bool,
    quorum: Arc<Quorum<PublishingImage>>,
    runtime: tokio::runtime::Handle,
    /// The publisher thread every applied entry goes through.
    publishing: Publishing,
    /// Tells the quorum thread to close the quorum and exit; taken by `close`.
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn storage(message: String) -> ApiError {
    ApiError::new(ErrorCode::KafkaStorageError, message)
}

impl MetadataLog {
    /// Opens (or creates) the log in `dir` for node `node_id` of cluster `cluster_id` and
    /// waits until its image holds every committed change.
    pub fn open(dir: &Path, cluster_id: &str, node_id: i32) -> Result<Self, MetadataLogError> {
        Self::open_with(dir, cluster_id, node_id, &QuorumSetup::default())
    }

    /// [`MetadataLog::open`] as one voter of the quorum `setup` describes (a single node
    /// when it names at most one voter).
    pub fn open_with(
        dir: &Path,
        cluster_id: &str,
        node_id: i32,
        setup: &QuorumSetup,
    ) -> Result<Self, MetadataLogError> {
        let quorum_err = |source| MetadataLogError::Quorum {
            dir: dir.to_path_buf(),
            source,
        };
        let id = u64::try_from(node_id).map_err(|_| {
            quorum_err(QuorumError::Config(strait_quorum::ConfigError(format!(
                "node.id {node_id} is negative"
            ))))
        })?;
        // A lone voter binds nothing; its own address is never dialled.
        let unbound: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let config = if setup.is_multi_voter() {
            let listen = setup.listen_addr.ok_or_else(|| {
                quorum_err(QuorumError::Config(strait_quorum::ConfigError(
                    "several voters but no controller listener to serve the quorum on".into(),
                )))
            })?;
            let mut c = QuorumConfig::new(id, cluster_id, setup.voters.clone(), dir, listen);
            setup.apply_timing(&mut c);
            c
        } else {
            let voters = [(id, VoterAddr::from(unbound))].into_iter().collect();
            QuorumConfig::new(id, cluster_id, voters, dir, unbound)
        };
        let multi = setup.is_multi_voter();
        let (publishing, image) = publish::start(MetadataLogImage::new(cluster_id, node_id))
            .map_err(|source| MetadataLogError::Thread {
                dir: dir.to_path_buf(),
                source,
            })?;
        // Link configs in the log carry source credentials: owner only, as the JSON file was.
        private_dir(dir).map_err(|e| quorum_err(QuorumError::Io(e)))?;
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<Running, MetadataLogError>>(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread_dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("metadata-quorum".into())
            .spawn(move || run(config, multi, image, thread_dir, ready_tx, stop_rx))
            .map_err(|source| MetadataLogError::Thread {
                dir: dir.to_path_buf(),
                source,
            })?;
        let running = match ready_rx.recv() {
            Ok(r) => r,
            Err(_) => Err(MetadataLogError::NotReady {
                dir: dir.to_path_buf(),
                message: "the quorum thread exited during start-up".into(),
            }),
        };
        let running = match running {
            Ok(r) => r,
            Err(e) => {
                let _ = thread.join();
                publishing.stop();
                return Err(e);
            }
        };
        let log = MetadataLog {
            dir: dir.to_path_buf(),
            multi_voter: multi,
            quorum: running.quorum,
            runtime: running.runtime,
            publishing,
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
        };
        // The replayed entries are still queued for the publisher thread: drained here,
        // so `published_image` is the image just loaded and a publisher registering with
        // it gets no catch-up that would redo what it built from it.
        log.catch_up().map_err(|e| MetadataLogError::NotReady {
            dir: dir.to_path_buf(),
            message: e.message.unwrap_or_default(),
        })?;
        Ok(log)
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A copy of the applied image, in `strait-metadata.json`'s shape.
    pub fn image(&self) -> MetadataImage {
        self.quorum.read(|i| i.image().metadata().clone())
    }

    /// The image as of the last entry handed to the publishers (what a publisher that
    /// registers now has to have reflected already, see [`MetadataLog::register_publisher`]).
    pub fn published_image(&self) -> Arc<MetadataImage> {
        self.publishing.tracker.published_image()
    }

    /// Registers `publisher`, which already reflects `seen` (e.g. the start-up image it
    /// was built from); from here on it gets every applied entry, in log order. Returns
    /// once it has caught up with the entries applied since `seen`, with the catch-up's
    /// outcome.
    pub fn register_publisher(
        &self,
        publisher: Box<dyn MetadataPublisher>,
        seen: Arc<MetadataImage>,
    ) -> Result<(), ApiError> {
        self.publishing.register(publisher, seen).map_err(storage)
    }

    /// Waits until every entry applied so far has been published, so a change computed
    /// now starts from the state the publishers show (the topic map agrees with the image).
    pub fn catch_up(&self) -> Result<(), ApiError> {
        // Every queued event, not just offsets: a snapshot installed at start-up has none.
        // An earlier entry's publish failure was its committer's to report, not ours.
        self.publishing
            .tracker
            .wait_all_queued(PUBLISH_TIMEOUT)
            .map_err(|e| self.publish_error(e))
    }

    fn publish_error(&self, e: PublishWaitError) -> ApiError {
        match e {
            PublishWaitError::Timeout(d) => ApiError::new(
                ErrorCode::RequestTimedOut,
                format!("metadata change committed but not applied to this broker within {d:?}"),
            ),
            PublishWaitError::Failed(m) => storage(format!(
                "metadata change committed, but applying it to this broker failed: {m}"
            )),
            PublishWaitError::Stopped => storage(format!(
                "metadata log {}: the metadata publisher thread has stopped",
                self.dir.display()
            )),
        }
    }

    /// Proposes `records` as one entry, bypassing [`MetadataLog::commit`]'s checks — as an
    /// entry from another node's controller arrives — and waits until it is published here.
    /// Returns the entry's index. A follower whose quorum knows no leader gets
    /// NOT_CONTROLLER (retriable); an entry the image refused INVALID_UPDATE_VERSION
    /// (nothing changed; do not resend it as is); any other failure KAFKA_STORAGE_ERROR.
    pub(crate) fn propose_records(
        &self,
        records: &[super::MetadataRecord],
    ) -> Result<u64, ApiError> {
        let entry = encode(records).map_err(|e| storage(e.to_string()))?;
        let applied = self
            .on_quorum(move |q| Box::pin(async move { q.propose(entry).await }))
            .unwrap_or_else(|| {
                Err(ProposeError::Unavailable(
                    "the metadata quorum thread has stopped".into(),
                ))
            })
            .map_err(|e| match e {
                ProposeError::NotLeader { .. } => {
                    ApiError::new(ErrorCode::NotController, e.to_string())
                }
                // Committed, but the image refused it as a whole (e.g. a partition change
                // computed from a partition epoch another change overtook): nothing changed.
                // Distinct from "unavailable" so a caller drops it rather than retry it.
                ProposeError::Rejected { .. } => {
                    ApiError::new(ErrorCode::InvalidUpdateVersion, e.to_string())
                }
                e => storage(e.to_string()),
            })?;
        self.publishing
            .tracker
            .wait_published(applied.index, PUBLISH_TIMEOUT)
            .map_err(|e| self.publish_error(e))?;
        Ok(applied.index)
    }

    /// Runs `fut` on the quorum's runtime and waits for its output on a channel.
    fn on_quorum<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Quorum<PublishingImage>>) -> futures_like::BoxFuture<T>,
    ) -> Option<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let fut = f(Arc::clone(&self.quorum));
        self.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().ok()
    }

    /// Migrates `log_dir/strait-metadata.json` into the log (see [`migrate`]).
    pub fn migrate(&self, log_dir: &Path) -> Result<MigrationOutcome, MigrateError> {
        let log_dir = log_dir.to_path_buf();
        self.on_quorum(move |q| Box::pin(async move { migrate::migrate(&log_dir, &q).await }))
            .unwrap_or_else(|| {
                Err(MigrateError::Propose(ProposeError::Unavailable(
                    "the metadata quorum thread has stopped".into(),
                )))
            })
    }

    /// Whether this node is one voter of several.
    pub fn is_multi_voter(&self) -> bool {
        self.multi_voter
    }

    /// The registered brokers, by id, from the applied image.
    pub fn brokers(&self) -> std::collections::BTreeMap<i32, super::records::RegisterBrokerRecord> {
        self.quorum.read(|i| i.image().brokers().clone())
    }

    /// The quorum's leader (the active controller) as this node last saw it.
    pub fn leader_id(&self) -> Option<u64> {
        self.quorum.leader().map(|(id, _)| id)
    }

    /// Whether registered broker `id` is fenced in the applied image.
    pub fn is_fenced(&self, id: i32) -> bool {
        self.quorum.read(|i| i.image().is_fenced(id))
    }

    /// Whether this node leads the metadata quorum (is the active controller).
    pub fn is_leader(&self) -> bool {
        self.quorum.is_leader()
    }

    /// On the leader: per voter, the time since it last answered (empty elsewhere).
    pub fn voter_contact(&self) -> std::collections::BTreeMap<u64, Duration> {
        self.quorum.voter_contact()
    }

    /// Proposes a BrokerRegistrationChangeRecord fencing or unfencing broker `id`.
    pub fn set_fenced(&self, id: i32, fenced: bool) -> Result<(), ApiError> {
        let record = super::records::BrokerRegistrationChangeRecord {
            broker_id: id,
            fenced,
            in_controlled_shutdown: None,
        };
        self.propose_records(&[super::MetadataRecord::BrokerRegistrationChange(record)])
            .map(drop)
    }

    /// Whether broker `id` is in controlled shutdown in the applied image.
    pub fn is_shutting_down(&self, id: i32) -> bool {
        self.quorum.read(|i| i.image().is_shutting_down(id))
    }

    /// Whether broker `id` may lead or join an ISR (registered, not fenced, not in
    /// controlled shutdown) in the applied image.
    pub fn is_eligible(&self, id: i32) -> bool {
        self.quorum.read(|i| i.image().is_eligible(id))
    }

    /// Puts broker `id` in controlled shutdown (KIP-841): the active controller then
    /// moves its leaderships and ISR memberships to the other live replicas.
    pub fn begin_controlled_shutdown(&self, id: i32) -> Result<(), ApiError> {
        let record = super::records::BrokerRegistrationChangeRecord {
            broker_id: id,
            fenced: false,
            in_controlled_shutdown: Some(true),
        };
        self.propose_records(&[super::MetadataRecord::BrokerRegistrationChange(record)])
            .map(drop)
    }

    /// Registers (or re-registers) a broker: one RegisterBrokerRecord entry, unless the
    /// image already holds exactly this registration. Returns once it is published here.
    pub fn register_broker(
        &self,
        record: super::records::RegisterBrokerRecord,
    ) -> Result<(), ApiError> {
        // Registering again also ends a controlled shutdown: a restarted broker with the
        // same endpoints still writes its registration then.
        if self.brokers().get(&record.broker_id) == Some(&record)
            && !self.is_shutting_down(record.broker_id)
        {
            return Ok(());
        }
        self.propose_records(&[super::MetadataRecord::RegisterBroker(record)])
            .map(drop)
    }

    /// What Kafka's DescribeQuorum reports, from this node.
    pub fn describe(&self) -> Option<QuorumDescription> {
        self.on_quorum(|q| Box::pin(async move { q.describe().await }))
    }

    /// Commits the change `prev` → `next` as one entry and returns the applied image (equal
    /// to `next`). `prev` must be the current image: the caller holds the lock that
    /// serializes changes.
    pub fn commit(
        &self,
        prev: &MetadataImage,
        next: &MetadataImage,
    ) -> Result<MetadataImage, ApiError> {
        let mut check = self.quorum.read(|i| i.image().clone());
        if check.metadata() != prev {
            tracing::error!(dir = %self.dir.display(), "metadata change computed from an image that is not the metadata log's (a change of unknown outcome, or a bug)");
            return Err(storage(format!(
                "metadata log {}: the change was computed from a stale image; retry",
                self.dir.display()
            )));
        }
        let records = diff(prev, next).map_err(|e| {
            tracing::error!(error = %e, "metadata change cannot be written to the metadata log");
            storage(e.to_string())
        })?;
        if records.is_empty() {
            return Ok(next.clone());
        }
        // The same apply the quorum will run, on a copy: a diff that does not reproduce
        // `next` is a bug, refused before anything is written.
        if let Err(e) = check.apply_records(&records) {
            tracing::error!(error = %e, "metadata log entry refused by a copy of the image; not proposed");
            return Err(storage(format!("metadata log entry refused: {e}")));
        }
        if check.metadata() != next {
            tracing::error!("metadata log entry does not reproduce the change; not proposed");
            return Err(storage(
                "metadata log entry does not reproduce the change (a bug); nothing was written"
                    .into(),
            ));
        }
        let entry = encode(&records).map_err(|e| storage(e.to_string()))?;
        let outcome = self
            .on_quorum(move |q| Box::pin(async move { q.propose(entry).await }))
            .unwrap_or_else(|| {
                Err(ProposeError::Unavailable(
                    "the metadata quorum thread has stopped".into(),
                ))
            });
        let index = match outcome {
            Ok(applied) => applied.index,
            Err(ProposeError::Timeout(d)) => {
                tracing::error!(timeout = ?d, "metadata log entry not committed in time; outcome unknown");
                return Err(ApiError::new(
                    ErrorCode::RequestTimedOut,
                    format!("metadata change not committed within {d:?}; its outcome is unknown"),
                ));
            }
            Err(ProposeError::NotLeader { leader_id, .. }) => {
                // Until proposals are forwarded to the leader: the client retries
                // NOT_CONTROLLER after refreshing metadata.
                return Err(ApiError::new(
                    ErrorCode::NotController,
                    format!(
                        "this node does not lead the metadata quorum (leader: {})",
                        leader_id.map_or_else(|| "unknown".to_string(), |l| l.to_string())
                    ),
                ));
            }
            Err(ProposeError::Rejected { message, .. }) if self.multi_voter => {
                // Computed from an image another node's entry overtook: the image refused
                // it as a whole, nothing changed.
                return Err(ApiError::new(
                    ErrorCode::NotController,
                    format!("metadata change overtaken by another node's change; retry: {message}"),
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "metadata log entry not committed");
                return Err(storage(format!("metadata log: {e}")));
            }
        };
        if let Err(e) = self
            .publishing
            .tracker
            .wait_published(index, PUBLISH_TIMEOUT)
        {
            tracing::error!(index, error = %e, "metadata log entry committed but not published");
            return Err(self.publish_error(e));
        }
        let applied = self.image();
        // With several writers the image may hold other nodes' entries applied after ours:
        // normal. Alone, this node is the only writer, so a difference is a bug.
        if !self.multi_voter && &applied != next {
            tracing::error!(dir = %self.dir.display(), "the metadata log's image differs from the committed change (a bug)");
            return Err(storage(format!(
                "metadata log {}: the applied image differs from the change (a bug); the log's image is kept",
                self.dir.display()
            )));
        }
        Ok(applied)
    }

    /// Asks the quorum to write a snapshot of its image (completes in the background).
    #[cfg(test)]
    pub(crate) fn trigger_snapshot(&self) -> Result<(), ApiError> {
        self.on_quorum(|q| Box::pin(async move { q.trigger_snapshot().await }))
            .unwrap_or_else(|| Err(QuorumError::Raft("stopped".into())))
            .map_err(|e| storage(e.to_string()))
    }

    /// Stops the quorum (flushing its state) and joins its thread; idempotent. Commits
    /// after this answer KAFKA_STORAGE_ERROR.
    pub fn close(&self) {
        let stop = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            if t.join().is_err() {
                tracing::error!("the metadata quorum thread panicked");
            }
        }
        // After the quorum: every entry it applied is published before the thread ends.
        self.publishing.stop();
    }
}

impl Drop for MetadataLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn private_dir(dir: &Path) -> Result<(), strait_quorum::PathError> {
    let at = |source| strait_quorum::PathError {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(at)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(at)?;
    }
    Ok(())
}

mod futures_like {
    /// A boxed future run on the quorum's runtime.
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}

/// The quorum thread: opens the quorum, reports readiness, serves until told to stop.
fn run(
    config: QuorumConfig,
    multi: bool,
    image: PublishingImage,
    dir: PathBuf,
    ready: mpsc::SyncSender<Result<Running, MetadataLogError>>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(source) => {
            let _ = ready.send(Err(MetadataLogError::Thread { dir, source }));
            return;
        }
    };
    runtime.block_on(async move {
        let opened = if multi {
            Quorum::open(config, image).await
        } else {
            Quorum::open_single(config, image).await
        };
        let quorum = match opened {
            Ok(q) => Arc::new(q),
            Err(source) => {
                let _ = ready.send(Err(MetadataLogError::Quorum { dir, source }));
                return;
            }
        };
        if multi {
            // A follower cannot run the leader's linearizable barrier; it is ready once it
            // knows a leader and has applied every entry it knows committed.
            let caught_up = |d: &QuorumDescription| {
                d.leader_id.is_some() && d.last_applied.map_or(0, |i| i + 1) >= d.high_watermark
            };
            while !quorum.wait_until(WAITING_LOG_EVERY, caught_up).await {
                let d = quorum.describe().await;
                tracing::info!(
                    dir = %dir.display(),
                    leader_id = ?d.leader_id,
                    refused_connections = d.refused_connections,
                    last_refusal = ?d.last_refusal,
                    "waiting for the metadata quorum"
                );
            }
        } else if !quorum.wait_ready(READY_TIMEOUT).await {
            let _ = quorum.close().await;
            let _ = ready.send(Err(MetadataLogError::NotReady {
                dir,
                message: format!("not leader of its one-voter quorum within {READY_TIMEOUT:?}"),
            }));
            return;
        }
        let running = Running {
            quorum: Arc::clone(&quorum),
            runtime: tokio::runtime::Handle::current(),
        };
        if ready.send(Ok(running)).is_err() {
            let _ = quorum.close().await;
            return;
        }
        // A dropped sender (the handle leaked without close) also stops the quorum.
        let _ = stop.await;
        if let Err(e) = quorum.close().await {
            tracing::error!(dir = %dir.display(), error = %e, "metadata quorum did not close cleanly");
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::metadata::{PartitionRecord, TopicRecord};

    fn topic(name: &str) -> TopicRecord {
        TopicRecord {
            name: name.into(),
            topic_id: uuid::Uuid::new_v4().to_string(),
            partitions: vec![PartitionRecord::placed(vec![1]); 2],
            configs: Default::default(),
            mirror: None,
        }
    }

    #[test]
    fn commits_survive_reopen_and_bad_changes_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METADATA_LOG_DIR);
        let log = MetadataLog::open(&path, "c1", 1).unwrap();
        let empty = log.image();
        assert_eq!(empty, MetadataImage::empty("c1", 1));
        let mut next = empty.clone();
        next.topics.push(topic("a"));
        next.producer_id_block_end = 1000;
        let applied = log.commit(&empty, &next).unwrap();
        assert_eq!(applied, next);

        // Computed from a stale image: refused, nothing written.
        let mut stale = empty.clone();
        stale.topics.push(topic("b"));
        let e = log.commit(&empty, &stale).unwrap_err();
        assert_eq!(e.code, ErrorCode::KafkaStorageError);
        // Not expressible (producer ids would be reused): refused, nothing written.
        let mut back = next.clone();
        back.producer_id_block_end = 10;
        let e = log.commit(&next, &back).unwrap_err();
        assert_eq!(e.code, ErrorCode::KafkaStorageError);
        assert!(e.message.unwrap_or_default().contains("move back"));
        // Refused by the image (a duplicate name): refused before it is proposed.
        let mut dup = next.clone();
        dup.topics.push(topic("a"));
        let e = log.commit(&next, &dup).unwrap_err();
        assert_eq!(e.code, ErrorCode::KafkaStorageError);
        assert_eq!(log.image(), next);
        let high_watermark = log.describe().unwrap().high_watermark;
        log.close();
        assert!(log.describe().is_none(), "a closed log answers nothing");
        let mut more = next.clone();
        more.topics.push(topic("c"));
        let e = log.commit(&next, &more).unwrap_err();
        assert_eq!(e.code, ErrorCode::KafkaStorageError);
        assert!(e.message.unwrap_or_default().contains("stopped"));
        drop(log);

        let log = MetadataLog::open(&path, "c1", 1).unwrap();
        assert_eq!(log.image(), next);
        let d = log.describe().unwrap();
        assert!(d.is_leader && d.high_watermark >= high_watermark, "{d:?}");
        drop(log);
        // Another cluster's log is refused.
        assert!(matches!(
            MetadataLog::open(&path, "c2", 1),
            Err(MetadataLogError::Quorum { .. })
        ));
    }
}
