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
//! Idle cost: a round in which nothing changed sends an empty incremental request and does
//! one position lookup and one session lookup per partition, without copying the
//! assignment or allocating per partition ([`session`]); silent partitions get their
//! last-fetch time recorded once per second, not per long poll. Nothing in a round scans
//! the partitions once per partition.
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
use std::time::{Duration, Instant};

use strait_client::fetch::{FetchParams, FetchPartitionSpec, IsolationLevel};
use strait_client::{Client, ClientError, Connection};
use strait_protocol::ErrorCode;
use tokio::sync::watch;

use crate::faults::{Failure, Reason};
use crate::local::PartitionPosition;
use crate::shared::{now_ms, LinkShared};

mod apply;
mod partition;
mod session;

use apply::{apply_pending, Key, Pending, Prediction};
use partition::{adds_partitions, Backoffs};
use session::{Session, Want};

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    pub mirror_topic: String,
    pub source_topic: String,
    pub partition: i32,
    /// The source leader epoch from source metadata (-1 if unknown), sent as
    /// `current_leader_epoch` so a stale view is fenced rather than served.
    pub leader_epoch: i32,
}

/// A fetcher's assignment: replaced as a whole by the link loop, shared without copying.
pub type Assignments = Arc<Vec<Assignment>>;

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

/// How often partitions that an incremental response left out (nothing new) get their
/// last-fetch time and recovery recorded. Doing it every round would cost a stats update
/// per idle partition per long poll; partitions the request itself carried are recorded
/// at once.
const SILENT_SWEEP: Duration = Duration::from_secs(1);

/// Runs fetcher `index` of source broker `broker` until its assignment channel closes.
pub async fn run_fetcher(
    shared: Arc<LinkShared>,
    client: Client,
    broker: i32,
    index: usize,
    mut assignments: watch::Receiver<Assignments>,
) {
    let mut conn: Option<Connection> = None;
    let mut delayed = Backoffs::default();
    let mut rotation = 0usize;
    let mut session = SessionMode::Create;
    let mut last_sweep = Instant::now();
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
        let current: Assignments = assignments.borrow_and_update().clone();
        delayed.expire();
        let any_due = current.iter().any(|a| !delayed.is_delayed(a));
        if !any_due && pending.is_none() {
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
        // Rotate the request order so no partition starves behind a busy one.
        rotation = rotation.wrapping_add(1);
        let rotated = current
            .iter()
            .cycle()
            .skip(rotation % current.len().max(1))
            .take(current.len());

        // Pipeline every partition of the pending response whose end offset can be
        // predicted; the others sit this request out and are fetched once applied.
        let predicted: Prediction = pending.as_ref().map(Pending::predict).unwrap_or_default();
        let any_predicted = !predicted.positions.is_empty() || !predicted.held.is_empty();
        let mut positions: Vec<(&Assignment, PartitionPosition)> =
            Vec::with_capacity(current.len());
        for a in rotated {
            if delayed.is_delayed(a) {
                continue;
            }
            let pred = if any_predicted {
                let key: Key = (a.mirror_topic.clone(), a.partition);
                if predicted.held.contains(&key) {
                    continue;
                }
                predicted.positions.get(&key).copied()
            } else {
                None
            };
            let actual = shared
                .local
                .partition_position(&a.mirror_topic, a.partition);
            match (pred, actual) {
                (Some(pred), Ok(_)) => positions.push((a, pred)),
                (_, Ok(pos)) => positions.push((a, pos)),
                // The mirror was deleted or promoted under us; the link loop will reassign.
                (_, Err(_)) => continue,
            }
        }
        let wanted: Vec<Want<'_>> = positions
            .iter()
            .map(|(a, pos)| Want {
                topic: &a.source_topic,
                partition: a.partition,
                fetch_offset: pos.log_end_offset,
                current_leader_epoch: a.leader_epoch,
                last_fetched_epoch: pos.latest_epoch.unwrap_or(-1),
                partition_max_bytes: config.fetch_max_bytes,
            })
            .collect();
        if wanted.is_empty() {
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
        // Full or incremental request, depending on the session. An incremental one
        // carries only what changed: in an idle round, nothing.
        let (session_id, session_epoch, request_parts, forgotten) = match &session {
            SessionMode::Unsupported => (0, -1, all_specs(&wanted), Vec::new()),
            SessionMode::Create => (0, 0, all_specs(&wanted), Vec::new()),
            SessionMode::Open(s) => {
                let (changed, forgotten) = s.plan(&wanted);
                (s.id, s.epoch, changed, forgotten)
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
            // A consumer of the source (replica id -1).
            ..FetchParams::default()
        };
        let to_apply = pending.take();
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
                    let in_flight: Vec<&Assignment> = positions.iter().map(|(a, _)| *a).collect();
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
            // The link loop replaces the assignment as a whole, so an unchanged pointer
            // means nothing moved and no partition needs checking.
            let now_assigned = assignments.borrow();
            if !Arc::ptr_eq(&current, &now_assigned) {
                let set: HashSet<&Assignment> = now_assigned.iter().collect();
                for (a, _) in &positions {
                    if !set.contains(a) {
                        stale.insert((a.mirror_topic.clone(), a.partition));
                    }
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
        let FetchParams {
            partitions: carried,
            forgotten,
            ..
        } = params;
        // The partitions this request carried (for an incremental one: those whose
        // request data changed), by source key.
        let mut carried_keys: HashMap<String, HashSet<i32>> = HashMap::new();
        if incremental {
            for sp in &carried {
                carried_keys
                    .entry(sp.topic.clone())
                    .or_default()
                    .insert(sp.partition);
            }
        }
        session = match session {
            SessionMode::Create if response.session_id > 0 => {
                tracing::debug!(link = %shared.name(), broker, fetcher = index, session = response.session_id, "fetch session established");
                SessionMode::Open(Session::new(response.session_id, carried))
            }
            SessionMode::Create => {
                tracing::debug!(link = %shared.name(), broker, "source keeps no fetch sessions; fetching in full");
                SessionMode::Unsupported
            }
            SessionMode::Open(mut s) => {
                s.epoch = next_epoch(s.epoch);
                s.commit(carried, &forgotten);
                SessionMode::Open(s)
            }
            SessionMode::Unsupported => SessionMode::Unsupported,
        };
        let answered: HashSet<(&str, i32)> = response
            .partitions
            .iter()
            .map(|fp| (fp.topic.as_str(), fp.partition))
            .collect();
        if incremental {
            // Silence in an incremental response means "nothing new": the partition was
            // fetched (a success, ending any run of failures), and its last-seen high
            // watermark still holds. Recorded at once for the partitions this request
            // carried (a failure could only have been recorded for those), for the others
            // once per SILENT_SWEEP.
            let sweep = last_sweep.elapsed() >= SILENT_SWEEP;
            if sweep {
                last_sweep = Instant::now();
            }
            let now = now_ms();
            for (a, _) in positions
                .iter()
                .filter(|_| sweep || !carried_keys.is_empty())
            {
                if answered.contains(&(a.source_topic.as_str(), a.partition)) {
                    continue;
                }
                let carried = carried_keys
                    .get(a.source_topic.as_str())
                    .is_some_and(|ps| ps.contains(&a.partition));
                if !sweep && !carried {
                    continue;
                }
                if !stale.is_empty() && stale.contains(&(a.mirror_topic.clone(), a.partition)) {
                    continue;
                }
                shared.update_stats(&a.mirror_topic, a.partition, |s| {
                    if s.last_fetch_ms.is_some() {
                        s.last_fetch_ms = Some(now);
                    }
                });
                shared.partition_recovered(&a.mirror_topic, a.partition);
            }
        }
        // Only the partitions the response answers wait to be applied (in an idle round,
        // none), less those whose result became stale.
        let kept: Vec<(Assignment, PartitionPosition)> = positions
            .iter()
            .filter(|(a, _)| answered.contains(&(a.source_topic.as_str(), a.partition)))
            .filter(|(a, _)| {
                stale.is_empty() || !stale.contains(&(a.mirror_topic.clone(), a.partition))
            })
            .map(|(a, pos)| ((*a).clone(), *pos))
            .collect();
        drop(answered);
        let mut response = response;
        if !stale.is_empty() {
            let stale_sources: HashSet<(&str, i32)> = positions
                .iter()
                .filter(|(a, _)| stale.contains(&(a.mirror_topic.clone(), a.partition)))
                .map(|(a, _)| (a.source_topic.as_str(), a.partition))
                .collect();
            response
                .partitions
                .retain(|fp| !stale_sources.contains(&(fp.topic.as_str(), fp.partition)));
        }
        pending = Some(Pending {
            response,
            positions: kept,
        });
    }
}

/// Every wanted partition as request data (a full fetch: no session, or creating one).
fn all_specs(wanted: &[Want<'_>]) -> Vec<FetchPartitionSpec> {
    wanted.iter().map(|w| w.to_spec()).collect()
}
