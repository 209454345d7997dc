//! Promotion of PENDING_STOPPED mirrors: fence, final catch-up, one commit.
//!
//! The promote request starts one [`run_promotion`] task for the mirror at once (the link
//! loop starts it instead when the link was not connected, and restarts one that did not
//! finish). The task:
//! 1. reads each source partition's high watermark (ListOffsets LATEST, read_uncommitted)
//!    *after* the request, so every record the source acknowledged before the promote is
//!    carried over;
//! 2. hands each partition to the fetcher as DRAINING to that offset
//!    ([`crate::cutover::MirrorOwner::drain`]): the write that reaches it fences the
//!    partition, and a partition already there is fenced at once (lag 0 costs one source
//!    round trip, no fetch);
//! 3. once every partition is fenced, runs the final consumer-offset sync, then commits:
//!    [`crate::local::LocalCluster::promote`] aborts every mirrored transaction still open
//!    (ABORT markers at the log ends: nothing can append after the fence), then bumps the
//!    leader epochs, sets the producer-id barrier, records the final offsets and the
//!    per-partition aborted counts and sets STOPPED in one metadata change.
//!
//! A step that fails leaves the mirror PENDING_STOPPED (fenced partitions stay fenced) and
//! the next loop iteration starts over; new targets never un-fence a partition.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_client::offsets::OffsetSpec;
use strait_client::Client;

use crate::shared::{lock, LinkShared};
use crate::state::MirrorState;
use crate::sync_tasks::sync_consumer_offsets;

/// How long one attempt waits for the fetcher to drain before starting over with fresh
/// targets (the fetcher may be backing off; the mirror stays PENDING_STOPPED meanwhile).
const DRAIN_ATTEMPT: Duration = Duration::from_secs(30);

/// Starts a promotion task for every PENDING_STOPPED mirror that has none.
pub(crate) fn start_promotions(shared: &Arc<LinkShared>, client: &Client) {
    for m in shared.mirrors() {
        if m.mirror.state == MirrorState::PendingStopped {
            spawn_once(shared, client, m.topic);
        }
    }
}

/// Starts `topic`'s promotion right away (from the promote request) if the link is
/// connected; otherwise the link loop starts it once it is.
pub(crate) fn start_promotion_now(shared: &Arc<LinkShared>, topic: &str) {
    let client = lock(&shared.client).clone();
    if let Some(client) = client {
        if tokio::runtime::Handle::try_current().is_ok() {
            spawn_once(shared, &client, topic.to_string());
        }
    }
}

fn spawn_once(shared: &Arc<LinkShared>, client: &Client, topic: String) {
    if lock(&shared.promoting).insert(topic.clone()) {
        tokio::spawn(run_promotion(shared.clone(), client.clone(), topic));
    }
}

/// Clears the "promotion running" mark when the task ends, however it ends.
struct Running<'a>(&'a LinkShared, String);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(&self.0.promoting).remove(&self.1);
        // The loop retries a promotion that did not finish.
        self.0.wake.notify_one();
    }
}

fn pending_stopped(shared: &LinkShared, topic: &str) -> Option<crate::local::MirrorTopic> {
    shared
        .mirrors()
        .into_iter()
        .find(|m| m.topic == topic && m.mirror.state == MirrorState::PendingStopped)
}

/// One promotion attempt of `topic` (see the module docs).
pub(crate) async fn run_promotion(shared: Arc<LinkShared>, client: Client, topic: String) {
    let _running = Running(&shared, topic.clone());
    let started = Instant::now();
    let Some(m) = pending_stopped(&shared, &topic) else {
        return;
    };
    let source = m.mirror.source_topic.clone();
    let listed = client
        .list_offsets_by_leader((0..m.partitions).map(|p| (source.clone(), p, OffsetSpec::Latest)))
        .await;
    let listed = match listed {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(link = %shared.name(), mirror = %topic, error = %e, "promote: source high watermarks unavailable; retrying");
            tokio::time::sleep(Duration::from_millis(shared.config().retry_backoff_ms)).await;
            return;
        }
    };
    for p in 0..m.partitions {
        let Some(target) = listed
            .iter()
            .find(|l| l.partition == p && l.error.is_none())
            .map(|l| l.offset)
        else {
            tracing::debug!(mirror = %topic, partition = p, "promote: no source high watermark; retrying");
            tokio::time::sleep(Duration::from_millis(shared.config().retry_backoff_ms)).await;
            return;
        };
        shared.owner.drain(shared.local.as_ref(), &topic, p, target);
    }
    let deadline = Instant::now() + DRAIN_ATTEMPT;
    let drained = shared
        .owner
        .wait_fenced(&topic, m.partitions, Duration::from_millis(200), || {
            Instant::now() >= deadline || pending_stopped(&shared, &topic).is_none()
        })
        .await;
    if !drained {
        return;
    }
    // Fenced: nothing the link does can change the log any more.
    if shared.config().consumer_offset_sync {
        let outcome =
            sync_consumer_offsets(&shared, &client, Some(std::slice::from_ref(&source))).await;
        let failed = outcome.is_err();
        shared.record_task("consumer_offset_sync", outcome);
        if failed {
            // Promote carries every source commit made before it (Confluent checks for
            // consumer-offset-sync lag too): stay PENDING_STOPPED and retry. A source that
            // is gone for good needs failover, which skips the sync.
            tokio::time::sleep(Duration::from_millis(shared.config().retry_backoff_ms)).await;
            return;
        }
    }
    if pending_stopped(&shared, &topic).is_none() {
        // Failed over (or failed) meanwhile: that path committed.
        return;
    }
    match shared.local.promote(&topic) {
        Ok(aborted) => {
            tracing::info!(link = %shared.name(), mirror = %topic, elapsed_ms = started.elapsed().as_millis() as u64, aborted_transactions = ?aborted, "mirror promoted: now a writable topic")
        }
        Err(e) => {
            tracing::warn!(mirror = %topic, error = %e, "promotion failed; retrying");
            tokio::time::sleep(Duration::from_millis(shared.config().retry_backoff_ms)).await;
        }
    }
}
