//! Incremental fetch sessions (KIP-227, Fetch v7+).
//!
//! A session remembers, per partition, what the client last asked for and what it was last
//! told (high watermark, last stable offset, log start offset), so that an incremental
//! request lists only partitions whose request data changed and an incremental response
//! carries only partitions with news. Sessions are evicted least-recently-used when the
//! cache is full; a client whose session is gone gets FETCH_SESSION_ID_NOT_FOUND and starts
//! over with a full fetch.
//!
//! Locking: the cache's map lock is held only to find, add or remove a session (O(1));
//! resolving and updating one work under that session's own lock, so fetches of different
//! sessions (each link fetcher, each consumer) never wait on one another's partitions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use strait_protocol::ErrorCode;

/// Kafka's `max.incremental.fetch.session.cache.slots` default.
pub const MAX_SESSIONS: usize = 1000;

/// What the client asks for, per partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRequest {
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
}

/// What the client was last told, per partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionSeen {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

#[derive(Debug, Clone)]
pub struct SessionPartition {
    pub topic: String,
    pub partition: i32,
    pub request: PartitionRequest,
    pub seen: Option<PartitionSeen>,
}

#[derive(Debug)]
struct Session {
    epoch: i32,
    /// In the order the client first listed them.
    partitions: Vec<SessionPartition>,
    last_used: Instant,
}

#[derive(Debug, Default)]
pub struct FetchSessionCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<i32, Arc<Mutex<Session>>>,
    next_id: i32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The partitions a fetch must serve, and how to shape the response.
#[derive(Debug)]
pub struct SessionView {
    /// 0 when the fetch is sessionless.
    pub session_id: i32,
    /// True for an incremental fetch: answer only partitions with news.
    pub incremental: bool,
    pub partitions: Vec<SessionPartition>,
}

pub fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

impl FetchSessionCache {
    /// Resolves a request's session fields into the partitions to serve.
    /// `listed` are the request's partitions; `forgotten` the ones it drops.
    pub fn resolve(
        &self,
        session_id: i32,
        session_epoch: i32,
        listed: Vec<SessionPartition>,
        forgotten: &[(String, i32)],
    ) -> Result<SessionView, ErrorCode> {
        let mut inner = lock(&self.inner);
        match (session_id, session_epoch) {
            (0, -1) => Ok(SessionView {
                session_id: 0,
                incremental: false,
                partitions: listed,
            }),
            (0, 0) => {
                let id = inner.allocate_id();
                if inner.sessions.len() >= MAX_SESSIONS {
                    inner.evict_oldest();
                }
                inner.sessions.insert(
                    id,
                    Arc::new(Mutex::new(Session {
                        epoch: 1,
                        partitions: listed.clone(),
                        last_used: Instant::now(),
                    })),
                );
                Ok(SessionView {
                    session_id: id,
                    incremental: false,
                    partitions: listed,
                })
            }
            (0, _) => Err(ErrorCode::InvalidFetchSessionEpoch),
            (id, -1) => {
                inner.sessions.remove(&id);
                Ok(SessionView {
                    session_id: 0,
                    incremental: false,
                    partitions: listed,
                })
            }
            (id, epoch) => {
                let session = inner
                    .sessions
                    .get(&id)
                    .cloned()
                    .ok_or(ErrorCode::FetchSessionIdNotFound)?;
                drop(inner);
                let mut session = lock(&session);
                if session.epoch != epoch {
                    return Err(ErrorCode::InvalidFetchSessionEpoch);
                }
                session.epoch = next_epoch(epoch);
                session.last_used = Instant::now();
                session.partitions.retain(|p| {
                    !forgotten
                        .iter()
                        .any(|(t, i)| *t == p.topic && *i == p.partition)
                });
                for l in listed {
                    match session
                        .partitions
                        .iter_mut()
                        .find(|p| p.topic == l.topic && p.partition == l.partition)
                    {
                        Some(p) => {
                            p.request = l.request;
                            // A changed request must be answered even without news.
                            p.seen = None;
                        }
                        None => session.partitions.push(l),
                    }
                }
                Ok(SessionView {
                    session_id: id,
                    incremental: true,
                    partitions: session.partitions.clone(),
                })
            }
        }
    }

    /// Records what a response told the client, and the offsets it will fetch from next.
    pub fn update(&self, session_id: i32, served: &[(String, i32, Option<i64>, PartitionSeen)]) {
        if session_id == 0 {
            return;
        }
        let Some(session) = lock(&self.inner).sessions.get(&session_id).cloned() else {
            return;
        };
        let mut session = lock(&session);
        for (topic, partition, next_offset, seen) in served {
            if let Some(p) = session
                .partitions
                .iter_mut()
                .find(|p| p.topic == *topic && p.partition == *partition)
            {
                p.seen = Some(*seen);
                if let Some(o) = next_offset {
                    p.request.fetch_offset = *o;
                }
            }
        }
    }
}

impl Inner {
    fn allocate_id(&mut self) -> i32 {
        loop {
            self.next_id = if self.next_id == i32::MAX {
                1
            } else {
                self.next_id + 1
            };
            if !self.sessions.contains_key(&self.next_id) {
                return self.next_id;
            }
        }
    }
    fn evict_oldest(&mut self) {
        if let Some((&id, _)) = self
            .sessions
            .iter()
            .map(|(id, s)| (id, lock(s).last_used))
            .min_by_key(|(_, used)| *used)
        {
            self.sessions.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(topic: &str, partition: i32, offset: i64) -> SessionPartition {
        SessionPartition {
            topic: topic.into(),
            partition,
            request: PartitionRequest {
                fetch_offset: offset,
                partition_max_bytes: 1024,
                current_leader_epoch: -1,
                last_fetched_epoch: -1,
            },
            seen: None,
        }
    }

    #[test]
    fn session_lifecycle() {
        let cache = FetchSessionCache::default();
        let full = cache
            .resolve(0, 0, vec![p("a", 0, 0), p("a", 1, 0)], &[])
            .unwrap();
        assert!(full.session_id > 0 && !full.incremental);
        let id = full.session_id;
        assert_eq!(
            cache.resolve(id, 2, vec![], &[]).unwrap_err(),
            ErrorCode::InvalidFetchSessionEpoch
        );
        let inc = cache.resolve(id, 1, vec![], &[("a".into(), 1)]).unwrap();
        assert!(inc.incremental);
        assert_eq!(inc.partitions.len(), 1);
        let inc = cache.resolve(id, 2, vec![p("b", 0, 5)], &[]).unwrap();
        assert_eq!(inc.partitions.len(), 2);
        assert_eq!(cache.resolve(id, -1, vec![], &[]).unwrap().session_id, 0);
        assert_eq!(
            cache.resolve(id, 3, vec![], &[]).unwrap_err(),
            ErrorCode::FetchSessionIdNotFound
        );
        assert_eq!(next_epoch(i32::MAX), 1);
    }
}
