//! A fetcher: `num.cluster.link.fetchers` tasks per source broker, each fetching its share
//! of the partitions that broker leads over its own connection and fetch session (as
//! Kafka's replica fetcher threads do), so one busy or slow share does not hold up another.
//!
//! Each round it asks for every assigned partition from the local log end offset (so
//! progress lives in the local log alone), as a consumer of the source (replica id -1,
//! read_uncommitted, long polling), rotating the partition order so no partition starves
//! behind a busy one (KIP-74 fills partitions in request order). The response is applied
//! by [`apply`] while the next request is already on the wire, at the offsets the append
//! will leave.
//!
//! Where the source supports them, fetches use an incremental fetch session (KIP-227): the
//! first request creates the session, later ones list only partitions whose request data
//! changed and the source answers only partitions with news, so idle partitions cost
//! nothing. A partition absent from an incremental response was fetched and had nothing
//! new. Any session error falls back to a full fetch that starts a new session.
//!
//! Fault containment (invariants; [`partition`], [`crate::faults`]):
//! * a partition whose fetch or append failed is left out of requests for
//!   `replica.fetch.backoff.ms` while the others keep fetching; its failure is recorded
//!   for it alone, with a reason, and only that reason's policy decides whether its mirror
//!   topic gives up (FAILED);
//! * a partition whose outcome cannot be predicted (an error, a divergence) is left out of
//!   the next request until applied, instead of stopping the pipelining of all;
//! * only an assignment that brings new partitions interrupts a fetch in flight; results
//!   for partitions whose assignment changed meanwhile are dropped, not applied;
//! * only a failure of the whole request (the connection) backs off every partition, as
//!   they share it; each is then recorded SOURCE_UNAVAILABLE.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use strait_client::fetch::{FetchParams, FetchPartitionSpec, IsolationLevel};
use strait_client::{Client, ClientError, Connection};
use strait_protocol::ErrorCode;
use tokio::sync::watch;

use crate::faults::{Failure, Reason};
use crate::local::PartitionPosition;
use crate::shared::{now_ms, LinkShared};

mod apply;
mod partition;

use apply::{apply_pending, Key, Pending, Prediction};
use partition::{adds_partitions, Backoffs};

/// This fetcher's own connection to its source broker (reopened when it breaks or the
/// broker's advertised address changes).
async fn connection(
    client: &Client,
    broker: i32,
    conn: &mut Option<Connection>,
) -> Result<Connection, ClientError> {
    let address = client
        .metadata()
        .broker(broker)
        .map(|b| b.address())
        .ok_or(ClientError::UnknownBroker(broker))?;
    if let Some(c) = conn.as_ref() {
        if c.is_usable() && c.broker() == address {
            return Ok(c.clone());
        }
        c.close();
    }
    let c = Connection::connect(&address, client.options()).await?;
    *conn = Some(c.clone());
    Ok(c)
}

/// One partition a fetcher is responsible for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub mirror_topic: String,
    pub source_topic: String,
    pub partition: i32,
    /// The source leader epoch from source metadata (-1 if unknown), sent as
    /// `current_leader_epoch` so a stale view is fenced rather than served.
    pub leader_epoch: i32,
}

/// The fetcher's side of an incremental fetch session.
struct Session {
    id: i32,
    /// Epoch of the next request.
    epoch: i32,
    /// What the session holds for each partition: the last request data sent.
    sent: HashMap<(String, i32), FetchPartitionSpec>,
}

enum SessionMode {
    /// Try to create a session with the next full fetch.
    Create,
    Open(Session),
    /// The source does not keep sessions (it answered session id 0): fetch in full.
    Unsupported,
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// Runs fetcher `index` of source broker `broker` until its assignment channel closes.
pub async fn run_fetcher(
    shared: Arc<LinkShared>,
    client: Client,
    broker: i32,
    index: usize,
    mut assignments: watch::Receiver<Vec<Assignment>>,
) {
    let mut conn: Option<Connection> = None;
    let mut delayed = Backoffs::default();
    let mut rotation = 0usize;
    let mut session = SessionMode::Create;
    // A response received but not yet appended. Appending it overlaps with the next fetch
    // (sent at the offsets the append will leave), so the source and the destination work
    // at the same time instead of taking turns.
    let mut pending: Option<Pending> = None;
    loop {
        if shared.deleted.load(Ordering::Acquire) {
            return;
        }
        // Read every round: an alter of the link's fetch settings applies at once.
        let config = shared.config();
        let backoff = Duration::from_millis(config.fetch_backoff_ms.max(10));
        let mut parts = assignments.borrow_and_update().clone();
        delayed.expire();
        parts.retain(|a| !delayed.is_delayed(a));
        if parts.is_empty() && pending.is_none() {
            // Everything is backing off (or nothing is assigned): wait for the first
            // partition to be due again, or for a new assignment.
            let wake = delayed.next_due();
            tokio::select! {
                changed = assignments.changed() => if changed.is_err() { return; },
                _ = async {
                    match wake {
                        Some(t) => tokio::time::sleep_until(t.into()).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
            continue;
        }
        if !parts.is_empty() {
            rotation = rotation.wrapping_add(1);
            let len = parts.len();
            parts.rotate_left(rotation % len);
        }

        // Pipeline every partition of the pending response whose end offset can be
        // predicted; the others sit this request out and are fetched once applied.
        let predicted: Prediction = pending.as_ref().map(Pending::predict).unwrap_or_default();
        let mut specs = Vec::with_capacity(parts.len());
        let mut positions = Vec::with_capacity(parts.len());
        for a in &parts {
            let key: Key = (a.mirror_topic.clone(), a.partition);
            if predicted.held.contains(&key) {
                continue;
            }
            let actual = shared
                .local
                .partition_position(&a.mirror_topic, a.partition);
            let position = match (predicted.positions.get(&key), actual) {
                (Some(pred), Ok(_)) => Ok(*pred),
                (_, actual) => actual,
            };
            match position {
                Ok(pos) => {
                    let mut spec = FetchPartitionSpec::new(
                        a.source_topic.clone(),
                        a.partition,
                        pos.log_end_offset,
                    );
                    spec.current_leader_epoch = a.leader_epoch;
                    spec.last_fetched_epoch = pos.latest_epoch.unwrap_or(-1);
                    spec.partition_max_bytes = config.fetch_max_bytes;
                    specs.push(spec);
                    positions.push((a, pos));
                }
                // The mirror was deleted or promoted under us; the link loop will reassign.
                Err(_) => continue,
            }
        }
        if specs.is_empty() {
            if let Some(p) = pending.take() {
                // Nothing to overlap with: apply what was received, then start over.
                let failed = apply_pending(&shared, &client, broker, p).await;
                delayed.delay(failed, backoff);
                continue;
            }
            tokio::select! {
                changed = assignments.changed() => if changed.is_err() { return; },
                // A partition delayed meanwhile may come due again.
                _ = tokio::time::sleep(backoff) => {}
            }
            continue;
        }
        // Full or incremental request, depending on the session.
        let (session_id, session_epoch, request_parts, forgotten) = match &session {
            SessionMode::Unsupported => (0, -1, specs.clone(), Vec::new()),
            SessionMode::Create => (0, 0, specs.clone(), Vec::new()),
            SessionMode::Open(s) => {
                let changed: Vec<FetchPartitionSpec> = specs
                    .iter()
                    .filter(|sp| s.sent.get(&(sp.topic.clone(), sp.partition)) != Some(*sp))
                    .cloned()
                    .collect();
                let mut forgotten: HashMap<String, Vec<i32>> = HashMap::new();
                for (t, p) in s.sent.keys() {
                    if !specs.iter().any(|sp| sp.topic == *t && sp.partition == *p) {
                        forgotten.entry(t.clone()).or_default().push(*p);
                    }
                }
                (s.id, s.epoch, changed, forgotten.into_iter().collect())
            }
        };
        let params = FetchParams {
            max_wait_ms: config.fetch_wait_max_ms,
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_response_max_bytes,
            isolation_level: IsolationLevel::ReadUncommitted,
            session_id,
            session_epoch,
            partitions: request_parts,
            forgotten,
            rack_id: String::new(),
        };
        let to_apply = pending.take();
        let in_flight: Vec<&Assignment> = positions.iter().map(|(a, _)| *a).collect();
        // The fetch is polled first, so its request is on the wire before the append runs.
        let fetch = async {
            connection(&client, broker, &mut conn)
                .await?
                .fetch_raw(&params)
                .await
        };
        let mut work = Box::pin(async {
            tokio::join!(fetch, async {
                match to_apply {
                    Some(p) => apply_pending(&shared, &client, broker, p).await,
                    None => Vec::new(),
                }
            })
        });
        let outcome = loop {
            tokio::select! {
                r = &mut work => break Some(r),
                changed = assignments.changed() => {
                    if changed.is_err() { return; }
                    // Partitions leaving or a leader epoch moving wait for the next round
                    // (their results are dropped below); only new partitions should not
                    // wait out a long poll.
                    if adds_partitions(&assignments.borrow(), &in_flight) {
                        break None;
                    }
                }
            }
        };
        drop(work);
        let Some((result, failed)) = outcome else {
            // The source answers a connection's requests in order, so the abandoned poll
            // would hold up the next fetch on it: drop the connection, and with it the
            // session epoch the abandoned request may or may not have used.
            if let Some(c) = conn.take() {
                c.close();
            }
            if !matches!(session, SessionMode::Unsupported) {
                session = SessionMode::Create;
            }
            continue;
        };
        delayed.delay(failed, backoff);
        // A prediction the append did not meet (it failed, or another writer moved the
        // log) makes that partition's part of the new response unusable: drop it, and the
        // next round fetches again from where the log really ends. So is the part of a
        // partition whose assignment changed while the fetch was out (it left this
        // fetcher, or its source leader epoch moved).
        let mut stale: HashSet<Key> = HashSet::new();
        for ((topic, partition), pred) in &predicted.positions {
            let actual = shared
                .local
                .partition_position(topic, *partition)
                .map(|p| p.log_end_offset);
            if actual.ok() != Some(pred.log_end_offset) {
                stale.insert((topic.clone(), *partition));
            }
        }
        {
            let current = assignments.borrow();
            for (a, _) in &positions {
                if !current.contains(a) {
                    stale.insert((a.mirror_topic.clone(), a.partition));
                }
            }
        }
        let response = match result {
            Ok(r) => r,
            Err(e)
                if matches!(session, SessionMode::Open(_))
                    && matches!(
                        e.kafka_code(),
                        Some(
                            ErrorCode::FetchSessionIdNotFound
                                | ErrorCode::InvalidFetchSessionEpoch
                                | ErrorCode::FetchSessionTopicIdError
                        )
                    ) =>
            {
                // The source dropped our session: start over with a full fetch.
                tracing::debug!(link = %shared.name(), broker, error = %e, "fetch session reset");
                session = SessionMode::Create;
                continue;
            }
            Err(e) => {
                if !matches!(session, SessionMode::Unsupported) {
                    session = SessionMode::Create;
                }
                tracing::debug!(link = %shared.name(), broker, fetcher = index, error = %e, "fetch failed");
                if let Some(c) = conn.take() {
                    c.close();
                }
                // The request failed as a whole: every partition it carried shares the
                // connection, so all wait (each recorded, none failing its topic).
                let failure = Failure::new(
                    Reason::SourceUnavailable,
                    format!("fetch from source broker {broker} failed: {e}"),
                );
                for (a, _) in &positions {
                    shared.partition_failed(&a.mirror_topic, a.partition, &failure);
                }
                shared.refresh.notify_one();
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let incremental = matches!(session, SessionMode::Open(_));
        let sent = || {
            specs
                .iter()
                .map(|sp| ((sp.topic.clone(), sp.partition), sp.clone()))
                .collect()
        };
        session = match session {
            SessionMode::Create if response.session_id > 0 => {
                tracing::debug!(link = %shared.name(), broker, fetcher = index, session = response.session_id, "fetch session established");
                SessionMode::Open(Session {
                    id: response.session_id,
                    epoch: 1,
                    sent: sent(),
                })
            }
            SessionMode::Create => {
                tracing::debug!(link = %shared.name(), broker, "source keeps no fetch sessions; fetching in full");
                SessionMode::Unsupported
            }
            SessionMode::Open(mut s) => {
                s.epoch = next_epoch(s.epoch);
                s.sent = sent();
                SessionMode::Open(s)
            }
            SessionMode::Unsupported => SessionMode::Unsupported,
        };
        if incremental {
            // Silence in an incremental response means "nothing new": the partition was
            // fetched (a success, ending any run of failures), and its last-seen high
            // watermark still holds.
            let now = now_ms();
            for (a, _) in &positions {
                let answered = response
                    .partitions
                    .iter()
                    .any(|fp| fp.topic == a.source_topic && fp.partition == a.partition);
                if !answered && !stale.contains(&(a.mirror_topic.clone(), a.partition)) {
                    shared.update_stats(&a.mirror_topic, a.partition, |s| {
                        if s.last_fetch_ms.is_some() {
                            s.last_fetch_ms = Some(now);
                        }
                    });
                    shared.partition_recovered(&a.mirror_topic, a.partition);
                }
            }
        }
        let mut response = response;
        response.partitions.retain(|fp| {
            !positions.iter().any(|(a, _)| {
                a.source_topic == fp.topic
                    && a.partition == fp.partition
                    && stale.contains(&(a.mirror_topic.clone(), a.partition))
            })
        });
        pending = Some(Pending {
            response,
            positions: positions
                .into_iter()
                .filter(|(a, _)| !stale.contains(&(a.mirror_topic.clone(), a.partition)))
                .map(|(a, pos)| (a.clone(), pos))
                .collect::<Vec<(Assignment, PartitionPosition)>>(),
        });
    }
}
