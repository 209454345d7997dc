//! openraft's log storage (`RaftLogStorage` + `RaftLogReader`) over [`disk::DiskLog`].
//!
//! The store and its readers share one `DiskLog` behind a mutex: openraft's replication
//! tasks read while the core appends. Disk calls are blocking on purpose: entries are small
//! metadata records, openraft issues storage calls one at a time from its core, and the
//! flush callback must not fire before `sync_data` returned anyway.

pub mod disk;

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, StorageIOError};

use crate::types::{Entry, LogId, NodeId, QuorumTypes, StorageError, Vote};
use disk::{DiskLog, LogError};

/// A handle on the shared on-disk log; clones are readers of the same log.
#[derive(Clone)]
pub struct LogStore {
    log: Arc<Mutex<DiskLog>>,
}

fn io_error(verb: ErrorVerb, e: LogError) -> StorageError {
    StorageIOError::<NodeId>::new(ErrorSubject::Logs, verb, AnyError::new(&e)).into()
}

impl LogStore {
    pub fn new(log: DiskLog) -> LogStore {
        LogStore {
            log: Arc::new(Mutex::new(log)),
        }
    }

    /// Persists state held back in memory (the latest committed log id).
    pub fn flush(&self) -> Result<(), LogError> {
        self.lock().flush()
    }

    fn lock(&self) -> MutexGuard<'_, DiskLog> {
        // A panic while holding the lock cannot leave the on-disk log half-written in a way
        // recovery does not handle, so the in-memory view stays usable.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RaftLogReader<QuorumTypes> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(self.lock().entries(range))
    }
}

impl RaftLogStorage<QuorumTypes> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<QuorumTypes>, StorageError> {
        let log = self.lock();
        Ok(LogState {
            last_purged_log_id: log.last_purged(),
            last_log_id: log.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.lock()
            .save_vote(*vote)
            .map_err(|e| StorageIOError::<NodeId>::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.lock().state().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.lock()
            .save_committed(committed)
            .map_err(|e| io_error(ErrorVerb::Write, e))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.lock().state().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<QuorumTypes>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = self.lock().append(entries);
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(io_error(ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.lock()
            .truncate(log_id.index)
            .map_err(|e| io_error(ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.lock()
            .purge(log_id)
            .map_err(|e| io_error(ErrorVerb::Delete, e))
    }
}
