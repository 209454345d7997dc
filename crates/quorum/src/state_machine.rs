//! The state machine seam: openraft's `RaftStateMachine` and `RaftSnapshotBuilder` over an
//! [`Image`] the broker implements, and the snapshot file that bounds the log.
//!
//! Invariants: the image has applied exactly the entries up to `last_applied`, in index
//! order, once each (a restart restores the latest snapshot and openraft re-applies the
//! committed entries after it); a snapshot on disk is `snapshot/current.snap`, written
//! atomically, and always pairs the image bytes with the log id and membership they reflect
//! (taken under the image lock, so no apply can slip between them).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};

use crate::fsutil::{at, write_atomic, PathError};
use crate::types::{
    Entry, LogId, NodeId, QuorumTypes, Reply, SnapshotMeta, StorageError, StoredMembership,
};

/// The in-memory image a node builds from the log: the narrow trait the broker implements.
///
/// `apply` must be deterministic: every voter applies the same records in the same order
/// and must reach the same image. An `Err` from `apply` is a refusal of that record (for
/// example "topic already exists"): the image must be left unchanged, and the error reaches
/// the proposer as [`crate::ProposeError::Rejected`].
pub trait Image: Send + Sync + 'static {
    /// Applies the record committed at `index`; the returned bytes go back to the proposer.
    fn apply(&mut self, index: u64, record: &[u8]) -> Result<Vec<u8>, ApplyError>;
    /// The whole image as bytes, such that `restore` rebuilds it.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the image with one `snapshot` produced; an `Err` means the bytes are unusable.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), ApplyError>;
}

/// An image's refusal of a record or a snapshot, with a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApplyError(pub String);

const SNAPSHOT_DIR: &str = "snapshot";
const SNAPSHOT_FILE: &str = "current.snap";

/// Why the snapshot file could not be used at open.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("corrupt snapshot {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
}

struct Progress {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshots_built: u64,
}

pub(crate) struct Shared<I> {
    image: RwLock<I>,
    progress: Mutex<Progress>,
    snapshot_path: PathBuf,
}

impl<I: Image> Shared<I> {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, I> {
        // An image that panicked mid-apply is the broker's bug; reads still see its state.
        self.image.read().unwrap_or_else(PoisonError::into_inner)
    }
    fn write(&self) -> RwLockWriteGuard<'_, I> {
        self.image.write().unwrap_or_else(PoisonError::into_inner)
    }
    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The openraft state machine (and, cloned, its snapshot builder).
pub struct StateMachine<I> {
    pub(crate) shared: Arc<Shared<I>>,
}

impl<I> Clone for StateMachine<I> {
    fn clone(&self) -> Self {
        StateMachine {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Snapshot file: `crc32c: u32 LE | meta_len: u32 LE | meta (postcard) | image bytes`; the
/// CRC covers everything after itself.
fn encode_snapshot(meta: &SnapshotMeta, image: &[u8]) -> Result<Vec<u8>, postcard::Error> {
    let meta = postcard::to_stdvec(meta)?;
    let mut out = Vec::with_capacity(8 + meta.len() + image.len());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(image);
    let crc = crc32c::crc32c(&out[4..]);
    out[..4].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn decode_snapshot(bytes: &[u8]) -> Result<(SnapshotMeta, Vec<u8>), String> {
    if bytes.len() < 8 {
        return Err(format!(
            "{} bytes is shorter than the 8-byte header",
            bytes.len()
        ));
    }
    let crc = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if crc32c::crc32c(&bytes[4..]) != crc {
        return Err("CRC-32C mismatch".to_string());
    }
    let meta_len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let meta_end = 8usize
        .checked_add(meta_len)
        .filter(|end| *end <= bytes.len());
    let Some(meta_end) = meta_end else {
        return Err(format!("metadata length {meta_len} runs past the end"));
    };
    let meta = postcard::from_bytes(&bytes[8..meta_end])
        .map_err(|e| format!("undecodable metadata: {e}"))?;
    Ok((meta, bytes[meta_end..].to_vec()))
}

impl<I: Image> StateMachine<I> {
    /// Opens the state machine in `dir`, restoring `image` from the snapshot if one exists.
    pub fn open(dir: &Path, mut image: I) -> Result<StateMachine<I>, SnapshotError> {
        let snapshot_dir = dir.join(SNAPSHOT_DIR);
        std::fs::create_dir_all(&snapshot_dir).map_err(at(&snapshot_dir))?;
        let snapshot_path = snapshot_dir.join(SNAPSHOT_FILE);
        let mut progress = Progress {
            last_applied: None,
            membership: StoredMembership::default(),
            snapshots_built: 0,
        };
        match std::fs::read(&snapshot_path) {
            Ok(bytes) => {
                let corrupt = |message| SnapshotError::Corrupt {
                    path: snapshot_path.clone(),
                    message,
                };
                let (meta, data) = decode_snapshot(&bytes).map_err(corrupt)?;
                image
                    .restore(&data)
                    .map_err(|e| corrupt(format!("the image refused it: {e}")))?;
                progress.last_applied = meta.last_log_id;
                progress.membership = meta.last_membership;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(at(&snapshot_path)(e).into()),
        }
        Ok(StateMachine {
            shared: Arc::new(Shared {
                image: RwLock::new(image),
                progress: Mutex::new(progress),
                snapshot_path,
            }),
        })
    }

    fn read_snapshot_file(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError> {
        let path = &self.shared.snapshot_path;
        match std::fs::read(path) {
            Ok(bytes) => {
                let decoded = decode_snapshot(&bytes).map_err(|m| {
                    StorageIOError::<NodeId>::read_snapshot(
                        None,
                        AnyError::error(format!("{}: {m}", path.display())),
                    )
                })?;
                Ok(Some(decoded))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageIOError::<NodeId>::read_snapshot(
                None,
                AnyError::new(&at(path)(e)),
            )
            .into()),
        }
    }

    fn write_snapshot_file(&self, meta: &SnapshotMeta, image: &[u8]) -> Result<(), StorageError> {
        let signature = Some(meta.signature());
        let bytes = encode_snapshot(meta, image).map_err(|e| {
            StorageIOError::<NodeId>::write_snapshot(signature.clone(), AnyError::new(&e))
        })?;
        write_atomic(&self.shared.snapshot_path, &bytes).map_err(|e| {
            StorageIOError::<NodeId>::write_snapshot(signature, AnyError::new(&e)).into()
        })
    }
}

impl<I: Image> RaftSnapshotBuilder<QuorumTypes> for StateMachine<I> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<QuorumTypes>, StorageError> {
        let (meta, data) = {
            let image = self.shared.read();
            let mut progress = self.shared.progress();
            progress.snapshots_built += 1;
            let last = progress.last_applied;
            let snapshot_id = match last {
                Some(l) => format!(
                    "{}-{}-{}",
                    l.leader_id.term, l.index, progress.snapshots_built
                ),
                None => format!("none-{}", progress.snapshots_built),
            };
            let meta = SnapshotMeta {
                last_log_id: last,
                last_membership: progress.membership.clone(),
                snapshot_id,
            };
            (meta, image.snapshot())
        };
        self.write_snapshot_file(&meta, &data)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl<I: Image> RaftStateMachine<QuorumTypes> for StateMachine<I> {
    type SnapshotBuilder = StateMachine<I>;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let progress = self.shared.progress();
        Ok((progress.last_applied, progress.membership.clone()))
    }

    async fn apply<It>(&mut self, entries: It) -> Result<Vec<Reply>, StorageError>
    where
        It: IntoIterator<Item = Entry> + OptionalSend,
        It::IntoIter: OptionalSend,
    {
        let mut image = self.shared.write();
        let mut replies = Vec::new();
        for entry in entries {
            let reply = match &entry.payload {
                EntryPayload::Blank => Reply(Ok(Vec::new())),
                EntryPayload::Normal(record) => {
                    Reply(image.apply(entry.log_id.index, &record.0).map_err(|e| e.0))
                }
                EntryPayload::Membership(membership) => {
                    self.shared.progress().membership =
                        StoredMembership::new(Some(entry.log_id), membership.clone());
                    Reply(Ok(Vec::new()))
                }
            };
            self.shared.progress().last_applied = Some(entry.log_id);
            replies.push(reply);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        // On disk first: if the restore below fails we have not pretended to apply it.
        self.write_snapshot_file(meta, &data)?;
        let mut image = self.shared.write();
        image.restore(&data).map_err(|e| {
            StorageIOError::<NodeId>::read_snapshot(Some(meta.signature()), AnyError::error(e.0))
        })?;
        let mut progress = self.shared.progress();
        progress.last_applied = meta.last_log_id;
        progress.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<QuorumTypes>>, StorageError> {
        Ok(self.read_snapshot_file()?.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

impl<I: Image> Shared<I> {
    /// True when nothing was ever applied or restored (a brand-new directory).
    pub(crate) fn progress_is_empty(&self) -> bool {
        self.progress().last_applied.is_none()
    }
}
