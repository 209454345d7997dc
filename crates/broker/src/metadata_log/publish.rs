//! Publishing the applied metadata image (KRaft's `MetadataLoader` → `MetadataPublisher`
//! shape): every entry the quorum applies, whoever proposed it, is handed to the
//! registered [`MetadataPublisher`]s as a [`MetadataDelta`] (the image before and after,
//! plus what changed), so this node's logs, topic map and settings are derived from the
//! log rather than updated by the method that proposed the change.
//!
//! Threading: the quorum applies entries on its own thread (`metadata-quorum`) through
//! [`PublishingImage`], which only queues an event per entry. Publishers run on one
//! dedicated thread, `metadata-publisher`, that drains that queue in log order — so a slow
//! publish (opening logs) never stalls the quorum, and a publisher never runs while the
//! image's lock is held (it may read the image freely).
//!
//! Invariants:
//! * Every applied entry is published exactly once to every publisher registered when it
//!   was applied, in log order; an entry the image refused publishes nothing but still
//!   advances the published offset (nobody waits on it forever).
//! * A publisher registers with the image it has already reflected (`seen`); if the log
//!   moved on meanwhile, its first delta is `seen` → latest (a catch-up, `offset: None`),
//!   then it gets every later entry. Entries replayed at start-up (before anyone
//!   registers) are thus folded into the publisher's start-up image: a restart never
//!   re-runs a creation or deletion, it reconciles against the image it loads.
//! * [`super::MetadataLog::commit`] returns only once its entry has been published (see
//!   [`Tracker::wait_published`]), so a caller sees its change in the topic map when
//!   `commit` returns. Publishers must therefore never commit (the publisher thread would
//!   wait on itself) and never take a lock a committer holds while committing.
//! * A publisher's failure is reported to the entry's committer (KAFKA_STORAGE_ERROR) and
//!   logged; the other publishers still run, and later entries still publish.
//!
//! Not publishers yet: cluster links (`put_link`/`remove_link`, applied to the link
//! manager by the caller) and security (`update_security`, applied to the ACL and SCRAM
//! stores by the caller). Each becomes a publisher the same way `TopicManager` did: a
//! publisher that reads `links_changed` / `security_changed` and rebuilds the link manager's
//! link set / the authorizer's bindings and the SCRAM store from `next`, registered at
//! start-up with the image the store was built from; then the callers stop updating the
//! stores by hand.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strait_quorum::{ApplyError, Image};

use super::image::MetadataLogImage;
use crate::metadata::{MetadataImage, TopicRecord};

/// How many publish failures are kept for committers to pick up.
const KEPT_FAILURES: usize = 64;

/// One topic's change in a delta (a topic in `next`, matched to `prev` by topic id).
#[derive(Debug, Clone, PartialEq)]
pub struct TopicDelta {
    pub name: String,
    /// The topic id is new in this delta.
    pub created: bool,
    /// Partition indexes new in this delta (all of them for a created topic).
    pub partitions_added: Range<usize>,
    pub configs_changed: bool,
    pub mirror_changed: bool,
    /// `(partition, leader_epoch)` for each existing partition whose epoch moved.
    pub epochs_changed: Vec<(i32, i32)>,
}

impl TopicDelta {
    fn is_empty(&self) -> bool {
        !self.created
            && self.partitions_added.is_empty()
            && !self.configs_changed
            && !self.mirror_changed
            && self.epochs_changed.is_empty()
    }
}

/// What one applied entry (or a catch-up) changed: the images before and after, and the
/// changes publishers act on, computed once.
#[derive(Debug, Clone)]
pub struct MetadataDelta {
    /// The entry's offset in the metadata log; `None` for a catch-up (a publisher's first
    /// delta, or a snapshot installed from the leader).
    pub offset: Option<u64>,
    pub prev: Arc<MetadataImage>,
    pub next: Arc<MetadataImage>,
    /// Topics created or changed, in `next`'s order.
    pub topics: Vec<TopicDelta>,
    /// Topics (as `prev` had them) whose id is gone from `next`.
    pub removed_topics: Vec<TopicRecord>,
    /// This broker's or the cluster-default dynamic broker configs changed.
    pub broker_configs_changed: bool,
    pub links_changed: bool,
    pub security_changed: bool,
    pub producer_ids_changed: bool,
}

impl MetadataDelta {
    /// The delta `prev` → `next`.
    pub fn between(
        offset: Option<u64>,
        prev: Arc<MetadataImage>,
        next: Arc<MetadataImage>,
    ) -> Self {
        let mut topics = Vec::new();
        for t in &next.topics {
            let before = prev.topics.iter().find(|p| p.topic_id == t.topic_id);
            let delta = match before {
                None => TopicDelta {
                    name: t.name.clone(),
                    created: true,
                    partitions_added: 0..t.partitions.len(),
                    configs_changed: !t.configs.is_empty(),
                    mirror_changed: t.mirror.is_some(),
                    epochs_changed: Vec::new(),
                },
                Some(p) => TopicDelta {
                    name: t.name.clone(),
                    created: false,
                    partitions_added: p.partitions.len().min(t.partitions.len())
                        ..t.partitions.len(),
                    configs_changed: p.configs != t.configs,
                    mirror_changed: p.mirror != t.mirror,
                    epochs_changed: t
                        .partitions
                        .iter()
                        .zip(&p.partitions)
                        .enumerate()
                        .filter(|(_, (n, o))| n.leader_epoch != o.leader_epoch)
                        .map(|(i, (n, _))| (i as i32, n.leader_epoch))
                        .collect(),
                },
            };
            if !delta.is_empty() {
                topics.push(delta);
            }
        }
        let removed_topics = prev
            .topics
            .iter()
            .filter(|p| !next.topics.iter().any(|t| t.topic_id == p.topic_id))
            .cloned()
            .collect();
        MetadataDelta {
            offset,
            broker_configs_changed: prev.dynamic_broker_configs != next.dynamic_broker_configs
                || prev.dynamic_default_broker_configs != next.dynamic_default_broker_configs,
            links_changed: prev.links != next.links,
            security_changed: prev.acls != next.acls
                || prev.scram_credentials != next.scram_credentials,
            producer_ids_changed: prev.producer_id_block_end != next.producer_id_block_end,
            topics,
            removed_topics,
            prev,
            next,
        }
    }

    /// `name`'s record in `next`.
    pub fn topic(&self, name: &str) -> Option<&TopicRecord> {
        self.next.topics.iter().find(|t| t.name == name)
    }
}

/// Something that keeps local state in step with the metadata image. Runs on the
/// `metadata-publisher` thread; see the module docs for what it must not do.
pub trait MetadataPublisher: Send + 'static {
    /// For logs and error messages.
    fn name(&self) -> String;
    /// Applies `delta`; an `Err` is a one-line message for the entry's committer.
    fn publish(&mut self, delta: &MetadataDelta) -> Result<(), String>;
}

/// Why waiting for an entry's publication did not end in success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishWaitError {
    #[error("{0}")]
    Failed(String),
    #[error("not published within {0:?}")]
    Timeout(Duration),
    #[error("the metadata publisher thread has stopped")]
    Stopped,
}

struct Progress {
    /// The highest offset published (or skipped as refused).
    published: u64,
    /// How many of the image's events (entries, refusals, snapshot installs) are handled.
    handled: u64,
    /// The image as of the last published entry.
    image: Arc<MetadataImage>,
    failures: VecDeque<(u64, String)>,
    stopped: bool,
}

/// Where the publisher thread reports progress and committers wait on it.
pub(super) struct Tracker {
    progress: Mutex<Progress>,
    changed: Condvar,
    /// How many events the image has queued (a snapshot install has no offset to wait on).
    queued: AtomicU64,
}

impl Tracker {
    fn new(image: Arc<MetadataImage>) -> Self {
        Tracker {
            progress: Mutex::new(Progress {
                published: 0,
                handled: 0,
                image,
                failures: VecDeque::new(),
                stopped: false,
            }),
            changed: Condvar::new(),
            queued: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The image as of the last published entry.
    pub(super) fn published_image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.lock().image)
    }

    /// Waits until every event the image queued so far (entries and snapshot installs)
    /// has been handed to the publishers.
    pub(super) fn wait_all_queued(&self, timeout: Duration) -> Result<(), PublishWaitError> {
        let target = self.queued.load(Ordering::Acquire);
        self.wait_for(timeout, |p| p.handled >= target).map(drop)
    }

    /// Waits (a condition wait with a deadline, never a poll) until `done` holds; the
    /// progress then, still locked.
    fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&Progress) -> bool,
    ) -> Result<MutexGuard<'_, Progress>, PublishWaitError> {
        let deadline = Instant::now() + timeout;
        let mut p = self.lock();
        while !done(&p) {
            if p.stopped {
                return Err(PublishWaitError::Stopped);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PublishWaitError::Timeout(timeout));
            }
            p = self
                .changed
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(p)
    }

    fn published(&self, offset: Option<u64>, image: Arc<MetadataImage>, failure: Option<String>) {
        let mut p = self.lock();
        p.handled += 1;
        if let Some(offset) = offset {
            p.published = p.published.max(offset);
            if let Some(f) = failure {
                if p.failures.len() == KEPT_FAILURES {
                    p.failures.pop_front();
                }
                p.failures.push_back((offset, f));
            }
        }
        p.image = image;
        drop(p);
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// Waits until the entry at `offset` has been published; its publishers' failure, if
    /// any, is the error. A condition wait with a deadline, never a poll.
    pub(super) fn wait_published(
        &self,
        offset: u64,
        timeout: Duration,
    ) -> Result<(), PublishWaitError> {
        let p = self.wait_for(timeout, |p| p.published >= offset)?;
        match p.failures.iter().find(|(o, _)| *o == offset) {
            Some((_, f)) => Err(PublishWaitError::Failed(f.clone())),
            None => Ok(()),
        }
    }
}

enum Event {
    Applied {
        offset: u64,
        prev: Arc<MetadataImage>,
        next: Arc<MetadataImage>,
    },
    /// The image refused the entry at this offset: nothing changed.
    Refused {
        offset: u64,
    },
    /// A snapshot replaced the image.
    Restored {
        prev: Arc<MetadataImage>,
        next: Arc<MetadataImage>,
    },
    Register {
        publisher: Box<dyn MetadataPublisher>,
        seen: Arc<MetadataImage>,
        done: mpsc::SyncSender<Result<(), String>>,
    },
    Stop,
}

/// The quorum's image: [`MetadataLogImage`] plus the tap that queues each applied entry
/// for the publisher thread. Applying stays deterministic; the tap only observes.
pub struct PublishingImage {
    image: MetadataLogImage,
    /// `image.metadata()` as last queued, shared with the event (one copy per entry).
    last: Arc<MetadataImage>,
    events: Mutex<mpsc::Sender<Event>>,
    tracker: Arc<Tracker>,
}

impl PublishingImage {
    pub fn image(&self) -> &MetadataLogImage {
        &self.image
    }

    fn send(&self, event: Event) {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        self.tracker.queued.fetch_add(1, Ordering::AcqRel);
        // The publisher thread is gone only at close: nothing is left to publish to.
        let _ = events.send(event);
    }
}

impl std::borrow::Borrow<MetadataLogImage> for PublishingImage {
    fn borrow(&self) -> &MetadataLogImage {
        &self.image
    }
}

impl Image for PublishingImage {
    fn apply(&mut self, index: u64, record: &[u8]) -> Result<Vec<u8>, ApplyError> {
        let out = self.image.apply(index, record);
        match &out {
            Ok(_) => {
                let next = Arc::new(self.image.metadata().clone());
                let prev = std::mem::replace(&mut self.last, Arc::clone(&next));
                self.send(Event::Applied {
                    offset: index,
                    prev,
                    next,
                });
            }
            Err(_) => self.send(Event::Refused { offset: index }),
        }
        out
    }

    fn snapshot(&self) -> Vec<u8> {
        self.image.snapshot()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), ApplyError> {
        self.image.restore(snapshot)?;
        let next = Arc::new(self.image.metadata().clone());
        let prev = std::mem::replace(&mut self.last, Arc::clone(&next));
        self.send(Event::Restored { prev, next });
        Ok(())
    }
}

/// The publisher side: the thread, its queue and its progress.
pub(super) struct Publishing {
    events: Mutex<mpsc::Sender<Event>>,
    pub(super) tracker: Arc<Tracker>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Starts the publisher thread and returns it with the image the quorum will apply to.
pub(super) fn start(image: MetadataLogImage) -> std::io::Result<(Publishing, PublishingImage)> {
    let initial = Arc::new(image.metadata().clone());
    let tracker = Arc::new(Tracker::new(Arc::clone(&initial)));
    let (tx, rx) = mpsc::channel();
    let thread_tracker = Arc::clone(&tracker);
    let thread_initial = Arc::clone(&initial);
    let thread = std::thread::Builder::new()
        .name("metadata-publisher".into())
        .spawn(move || run(rx, thread_tracker, thread_initial))?;
    let publishing = Publishing {
        events: Mutex::new(tx.clone()),
        tracker: Arc::clone(&tracker),
        thread: Mutex::new(Some(thread)),
    };
    let tapped = PublishingImage {
        image,
        last: initial,
        events: Mutex::new(tx),
        tracker,
    };
    Ok((publishing, tapped))
}

impl Publishing {
    fn send(&self, event: Event) -> bool {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.send(event).is_ok()
    }

    /// Registers `publisher`, which already reflects `seen`; returns once it has caught up
    /// (its catch-up delta's outcome).
    pub(super) fn register(
        &self,
        publisher: Box<dyn MetadataPublisher>,
        seen: Arc<MetadataImage>,
    ) -> Result<(), String> {
        let (done, wait) = mpsc::sync_channel(1);
        let name = publisher.name();
        if !self.send(Event::Register {
            publisher,
            seen,
            done,
        }) {
            return Err(format!("publisher {name}: {}", PublishWaitError::Stopped));
        }
        wait.recv()
            .unwrap_or_else(|_| Err(format!("publisher {name}: {}", PublishWaitError::Stopped)))
    }

    /// Stops the thread after everything queued so far is published; idempotent.
    pub(super) fn stop(&self) {
        self.send(Event::Stop);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            if t.join().is_err() {
                tracing::error!("the metadata publisher thread panicked");
            }
        }
        self.tracker.stop();
    }
}

/// Marks the tracker stopped however the thread ends (a publisher's panic included), so
/// committers waiting on it get an answer instead of their deadline.
struct StopOnExit(Arc<Tracker>);

impl Drop for StopOnExit {
    fn drop(&mut self) {
        self.0.stop();
    }
}

fn publish_all(
    publishers: &mut [Box<dyn MetadataPublisher>],
    delta: &MetadataDelta,
) -> Option<String> {
    let mut failures = Vec::new();
    for p in publishers.iter_mut() {
        if let Err(e) = p.publish(delta) {
            tracing::error!(publisher = %p.name(), offset = ?delta.offset, error = %e, "metadata publisher failed");
            failures.push(format!("{}: {e}", p.name()));
        }
    }
    (!failures.is_empty()).then(|| failures.join("; "))
}

fn run(events: mpsc::Receiver<Event>, tracker: Arc<Tracker>, initial: Arc<MetadataImage>) {
    let _stop = StopOnExit(Arc::clone(&tracker));
    let mut publishers: Vec<Box<dyn MetadataPublisher>> = Vec::new();
    let mut latest = initial;
    for event in events {
        match event {
            Event::Applied { offset, prev, next } => {
                let delta = MetadataDelta::between(Some(offset), prev, Arc::clone(&next));
                let failure = publish_all(&mut publishers, &delta);
                latest = next;
                tracker.published(Some(offset), Arc::clone(&latest), failure);
            }
            Event::Refused { offset } => {
                tracker.published(Some(offset), Arc::clone(&latest), None);
            }
            Event::Restored { prev, next } => {
                let delta = MetadataDelta::between(None, prev, Arc::clone(&next));
                // Nobody committed a snapshot install: failures are logged only.
                let _ = publish_all(&mut publishers, &delta);
                latest = next;
                tracker.published(None, Arc::clone(&latest), None);
            }
            Event::Register {
                mut publisher,
                seen,
                done,
            } => {
                let outcome = if *seen == *latest {
                    Ok(())
                } else {
                    let delta = MetadataDelta::between(None, seen, Arc::clone(&latest));
                    publisher
                        .publish(&delta)
                        .map_err(|e| format!("{}: {e}", publisher.name()))
                };
                publishers.push(publisher);
                let _ = done.send(outcome);
            }
            Event::Stop => break,
        }
    }
}
