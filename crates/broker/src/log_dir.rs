//! The log directory's identity and start-up safety.
//!
//! # What this module owns
//! * `meta.properties` in the log directory, in Kafka's KRaft format (`version=1`,
//!   `cluster.id`, `node.id`, `directory.id`): the record of which cluster and node a
//!   directory belongs to, written once when the directory is formatted.
//! * The decision, before anything else touches the directory, whether it may be used
//!   ([`check`], then [`open_metadata`]): a fresh (empty) directory is formatted (a new
//!   cluster id, a fresh one-voter metadata log in `__cluster_metadata-0/`, then
//!   `meta.properties`); a directory with the metadata log is opened after the log's cluster
//!   and node ids are compared with `meta.properties`; a directory with a
//!   `strait-metadata.json` (written before the log existed) is migrated into the log;
//!   anything else is refused with a message that names what is missing and says what to do.
//! * `__cluster_metadata-0` is never a partition directory: it is not counted, tidied or
//!   kept as stray, and the topic name `__cluster_metadata` is refused at creation.
//! * Directory names for partitions on their way out: a deleted topic's partition
//!   directories are renamed `<topic>-<p>.<uuid>-delete` before removal, and directories the
//!   image does not name are renamed `<name>.<uuid>-stray` and kept (Kafka's suffixes).
//!
//! # Invariants
//! * Nothing is ever deleted because metadata is missing or does not name it. The only
//!   directories removed at start-up carry the `-delete` suffix, which only a persisted
//!   topic deletion writes.
//! * A directory written by a Strait from before `meta.properties` existed (metadata present,
//!   no `meta.properties`) gains `meta.properties` from the metadata's cluster id. The
//!   metadata log is created before `meta.properties` is written, so a crash between the two
//!   is that case too, never a refusal.
//! * A metadata log counts as present only if it holds state (a vote, entries or a
//!   snapshot): an empty log next to partition directories is as missing as no log.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::metadata::METADATA_FILE;
use crate::metadata_log::migrate::{self, MIGRATED_SUFFIX};
use crate::metadata_log::{MetadataLog, QuorumSetup, METADATA_LOG_DIR};
use crate::topics::StartupError;

pub const META_PROPERTIES: &str = "meta.properties";
/// Kafka's suffix for a partition directory scheduled for deletion.
pub const DELETE_SUFFIX: &str = "-delete";
/// Kafka's suffix for a partition directory the metadata does not know (KAFKA-14616).
pub const STRAY_SUFFIX: &str = "-stray";

#[derive(Debug, thiserror::Error)]
pub enum LogDirError {
    #[error("log directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{missing} is missing from log directory {dir}, which holds {present}. Refusing to start: \
         opening it would lose every topic, partition, group and link it describes. Restore {missing} \
         from a backup, or point log.dirs at the right directory; to start from scratch, move the \
         whole directory away first"
    )]
    MissingMetadata {
        dir: PathBuf,
        missing: String,
        present: String,
    },
    #[error("{path}: {message}")]
    BadMetaProperties { path: PathBuf, message: String },
    #[error(
        "{path} says cluster.id {found}, but {metadata} belongs to cluster {expected}. The two files \
         come from different clusters (a partial restore?); restore a matching pair"
    )]
    ClusterIdMismatch {
        path: PathBuf,
        found: String,
        expected: String,
        metadata: PathBuf,
    },
    #[error(
        "{dir} belongs to cluster {found}, but --cluster-id says {given}. Start this node with \
         --cluster-id {found}, or give it an empty log.dirs to format for cluster {given}"
    )]
    OtherCluster {
        dir: PathBuf,
        found: String,
        given: String,
    },
    #[error(
        "{dir} is not formatted and controller.quorum.voters names {voters} voters: give every \
         voter the same --cluster-id (e.g. from `python3 -c \"import uuid,base64;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22])\"`)"
    )]
    ClusterIdRequired { dir: PathBuf, voters: usize },
    #[error(
        "{path} says node.id {found}, but this broker is configured with node.id {configured}. Use \
         the node.id this directory was formatted with, or another log.dirs"
    )]
    NodeIdMismatch {
        path: PathBuf,
        found: i32,
        configured: i32,
    },
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDirState {
    /// Empty or absent: the caller formats it (new metadata log, then [`write_meta`]).
    Fresh,
    /// `meta.properties` and metadata (the log, or a JSON image to migrate) present, and
    /// `meta.properties` parsed: cluster id and node id to compare with the metadata.
    Formatted { cluster_id: String, node_id: i32 },
    /// Metadata (log or JSON image) without `meta.properties`: from before the file
    /// existed, or a crash between creating the log and writing it.
    Legacy,
}

/// Kafka's `meta.properties` (KRaft, version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    pub directory_id: String,
}

fn io(dir: &Path) -> impl FnOnce(std::io::Error) -> LogDirError + '_ {
    move |source| LogDirError::Io {
        dir: dir.to_path_buf(),
        source,
    }
}

/// Decides whether `dir` may be opened by node `node_id`, before anything writes to it.
pub fn check(dir: &Path, node_id: i32) -> Result<LogDirState, LogDirError> {
    let entries: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LogDirState::Fresh),
        Err(e) => return Err(io(dir)(e)),
    };
    let has_meta = entries.iter().any(|n| n == META_PROPERTIES);
    let has_image = entries.iter().any(|n| n == METADATA_FILE)
        || strait_quorum::holds_state(&dir.join(METADATA_LOG_DIR));
    let migrated = format!("{METADATA_FILE}{MIGRATED_SUFFIX}");
    // Files a crashed first save may leave behind, the migrated JSON and an empty metadata
    // log are not data.
    let data: Vec<&String> = entries
        .iter()
        .filter(|n| {
            *n != META_PROPERTIES
                && *n != METADATA_FILE
                && *n != METADATA_LOG_DIR
                && **n != migrated
                && !n.ends_with(".tmp")
        })
        .collect();
    let missing_log = format!("the metadata log {METADATA_LOG_DIR}");
    match (has_meta, has_image) {
        (false, false) if data.is_empty() => Ok(LogDirState::Fresh),
        (false, false) => Err(LogDirError::MissingMetadata {
            dir: dir.to_path_buf(),
            missing: format!("{missing_log} (and {META_PROPERTIES})"),
            present: describe(&data),
        }),
        (true, false) => Err(LogDirError::MissingMetadata {
            dir: dir.to_path_buf(),
            missing: missing_log,
            present: if data.is_empty() {
                META_PROPERTIES.to_string()
            } else {
                format!("{META_PROPERTIES} and {}", describe(&data))
            },
        }),
        (false, true) => Ok(LogDirState::Legacy),
        (true, true) => {
            let meta = read_meta(dir)?;
            if meta.node_id != node_id {
                return Err(LogDirError::NodeIdMismatch {
                    path: dir.join(META_PROPERTIES),
                    found: meta.node_id,
                    configured: node_id,
                });
            }
            Ok(LogDirState::Formatted {
                cluster_id: meta.cluster_id,
                node_id: meta.node_id,
            })
        }
    }
}

/// Fails unless `metadata`'s cluster id (`image_cluster_id`) is the one `meta.properties`
/// names.
pub fn check_cluster_id(
    dir: &Path,
    state: &LogDirState,
    image_cluster_id: &str,
    metadata: &Path,
) -> Result<(), LogDirError> {
    if let LogDirState::Formatted { cluster_id, .. } = state {
        if cluster_id != image_cluster_id {
            return Err(LogDirError::ClusterIdMismatch {
                path: dir.join(META_PROPERTIES),
                found: cluster_id.clone(),
                expected: image_cluster_id.to_string(),
                metadata: metadata.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Fails (before anything starts) when `config` is one voter of several, gives no
/// `--cluster-id` and its directory is not formatted: a voter must not invent the id its
/// peers have to share. A directory that cannot be read is left to [`open_metadata_with`].
pub fn check_cluster_id_given(config: &crate::BrokerConfig) -> Result<(), LogDirError> {
    if !config.is_multi_voter() || config.cluster_id.is_some() {
        return Ok(());
    }
    match check(&config.log_dir, config.node_id) {
        Ok(LogDirState::Fresh) => Err(LogDirError::ClusterIdRequired {
            dir: config.log_dir.clone(),
            voters: config.quorum_voters.len(),
        }),
        _ => Ok(()),
    }
}

/// The directory's metadata, opened by the rules in the module docs.
pub struct OpenedMetadata {
    pub meta_log: MetadataLog,
    pub state: LogDirState,
}

/// Checks `log_dir` ([`check`]), then opens (or formats) its metadata log, migrating a
/// `strait-metadata.json` into it, and writes `meta.properties` if it is missing.
pub fn open_metadata(log_dir: &Path, node_id: i32) -> Result<OpenedMetadata, StartupError> {
    open_metadata_with(log_dir, node_id, &QuorumSetup::default())
}

/// [`open_metadata`] for the quorum `setup` describes: a fresh directory is formatted with
/// `setup.cluster_id` (required with several voters), and a directory of another cluster
/// than `setup.cluster_id` refuses to start, naming both ids.
pub fn open_metadata_with(
    log_dir: &Path,
    node_id: i32,
    setup: &QuorumSetup,
) -> Result<OpenedMetadata, StartupError> {
    let state = check(log_dir, node_id)?;
    let json_path = log_dir.join(METADATA_FILE);
    let json = migrate::read_json_image(log_dir)?;
    if let Some(j) = &json {
        if j.node_id != node_id {
            return Err(crate::metadata::MetadataError::NodeIdMismatch {
                path: json_path,
                found: j.node_id,
                configured: node_id,
            }
            .into());
        }
    }
    let log_path = log_dir.join(METADATA_LOG_DIR);
    let identity = if strait_quorum::holds_state(&log_path) {
        strait_quorum::read_identity(&log_path).map_err(|source| {
            crate::metadata_log::MetadataLogError::Quorum {
                dir: log_path.clone(),
                source,
            }
        })?
    } else {
        None
    };
    let cluster_id = match (&state, &identity, &json) {
        (LogDirState::Formatted { cluster_id, .. }, _, _) => cluster_id.clone(),
        (_, Some((id, _)), _) => id.clone(),
        (_, None, Some(j)) => j.cluster_id.clone(),
        (_, None, None) => match &setup.cluster_id {
            Some(id) => id.clone(),
            None if setup.voters.len() > 1 => {
                return Err(LogDirError::ClusterIdRequired {
                    dir: log_dir.to_path_buf(),
                    voters: setup.voters.len(),
                }
                .into())
            }
            None => crate::metadata::new_cluster_id(),
        },
    };
    if let Some(given) = &setup.cluster_id {
        if given != &cluster_id {
            return Err(LogDirError::OtherCluster {
                dir: log_dir.to_path_buf(),
                found: cluster_id,
                given: given.clone(),
            }
            .into());
        }
    }
    if let Some((id, node)) = &identity {
        check_cluster_id(log_dir, &state, id, &log_path)?;
        if u64::try_from(node_id).ok() != Some(*node) {
            return Err(LogDirError::NodeIdMismatch {
                path: log_path.join("quorum.json"),
                found: i32::try_from(*node).unwrap_or(i32::MAX),
                configured: node_id,
            }
            .into());
        }
    }
    if let Some(j) = &json {
        // Against meta.properties, or (no meta.properties) against the log.
        let formatted = LogDirState::Formatted {
            cluster_id: cluster_id.clone(),
            node_id,
        };
        check_cluster_id(log_dir, &formatted, &j.cluster_id, &json_path)?;
    }
    fs::create_dir_all(log_dir).map_err(io(log_dir))?;
    let meta_log = MetadataLog::open_with(&log_path, &cluster_id, node_id, setup)?;
    if json.is_some() {
        meta_log.migrate(log_dir)?;
    }
    if !matches!(state, LogDirState::Formatted { .. }) {
        write_meta(
            log_dir,
            &MetaProperties {
                cluster_id,
                node_id,
                directory_id: new_directory_id(),
            },
        )?;
    }
    Ok(OpenedMetadata { meta_log, state })
}

fn describe(names: &[&String]) -> String {
    let partitions = names
        .iter()
        .filter(|n| {
            n.rsplit_once('-')
                .is_some_and(|(_, p)| p.parse::<u32>().is_ok())
        })
        .count();
    if partitions > 0 {
        format!(
            "{partitions} partition director{}",
            if partitions == 1 { "y" } else { "ies" }
        )
    } else {
        let shown: Vec<&str> = names.iter().take(3).map(|s| s.as_str()).collect();
        format!(
            "other files ({}{})",
            shown.join(", "),
            if names.len() > 3 { ", ..." } else { "" }
        )
    }
}

/// Reads `meta.properties`; every missing or malformed field is an error naming it.
pub fn read_meta(dir: &Path) -> Result<MetaProperties, LogDirError> {
    let path = dir.join(META_PROPERTIES);
    let bad = |message: String| LogDirError::BadMetaProperties {
        path: path.clone(),
        message,
    };
    let text = fs::read_to_string(&path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let props: BTreeMap<String, String> =
        strait_protocol::properties::parse(&text).map_err(|e| bad(e.to_string()))?;
    let field = |k: &str| {
        props
            .get(k)
            .map(|v| v.trim().to_string())
            .ok_or_else(|| bad(format!("no {k}")))
    };
    let version = field("version")?;
    if version != "1" {
        return Err(bad(format!(
            "version {version} is not supported (Strait writes KRaft's version 1)"
        )));
    }
    let node_id = field("node.id")?;
    let node_id = node_id
        .parse::<i32>()
        .map_err(|_| bad(format!("node.id {node_id} is not a number")))?;
    Ok(MetaProperties {
        cluster_id: field("cluster.id")?,
        node_id,
        directory_id: props.get("directory.id").cloned().unwrap_or_default(),
    })
}

/// Writes `meta.properties` atomically (temp file, fsync, rename, fsync dir).
pub fn write_meta(dir: &Path, meta: &MetaProperties) -> Result<(), LogDirError> {
    let text = format!(
        "#\n#Written by Strait {}\ncluster.id={}\ndirectory.id={}\nnode.id={}\nversion=1\n",
        env!("CARGO_PKG_VERSION"),
        meta.cluster_id,
        meta.directory_id,
        meta.node_id
    );
    let tmp = dir.join(format!("{META_PROPERTIES}.tmp"));
    {
        let mut f = fs::File::create(&tmp).map_err(io(dir))?;
        f.write_all(text.as_bytes()).map_err(io(dir))?;
        f.sync_all().map_err(io(dir))?;
    }
    fs::rename(&tmp, dir.join(META_PROPERTIES)).map_err(io(dir))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// A fresh directory id (Kafka: a random UUID in URL-safe base64; any unique id serves).
pub fn new_directory_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `<name>.<uuid><suffix>`: Kafka's naming for a partition directory leaving the log.
pub fn renamed(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.{}{suffix}", uuid::Uuid::new_v4().simple()))
}

/// Renames `dir` out of the way and fsyncs the parent, so the rename survives a crash.
pub fn rename_away(dir: &Path, suffix: &str) -> std::io::Result<PathBuf> {
    let target = renamed(dir, suffix);
    fs::rename(dir, &target)?;
    if let Some(parent) = dir.parent() {
        fs::File::open(parent).and_then(|d| d.sync_all())?;
    }
    Ok(target)
}

/// Finishes deletions marked `-delete`, and renames `<topic>-<n>` directories the image does
/// not name to `-stray` (kept, never deleted: a missing or stale image must not cost data).
/// Such a directory is left by a crash between persisting a topic deletion and marking its
/// directories, or by an operator's restore; it is reported so the operator can decide.
pub fn tidy_partition_dirs(
    log_dir: &Path,
    known: impl Fn(&str, i32) -> bool,
) -> std::io::Result<()> {
    let entries = fs::read_dir(log_dir)?;
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !entry.path().is_dir() || name == METADATA_LOG_DIR {
            continue;
        }
        if name.ends_with(DELETE_SUFFIX) {
            tracing::info!(dir = %entry.path().display(), "finishing deletion of a deleted topic's partition");
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(dir = %entry.path().display(), error = %e, "could not remove deleted partition directory");
            }
            continue;
        }
        let Some((topic, part)) = name.rsplit_once('-') else {
            continue;
        };
        let Ok(part) = part.parse::<i32>() else {
            continue;
        };
        if !known(topic, part) {
            match rename_away(&entry.path(), STRAY_SUFFIX) {
                Ok(to) => {
                    tracing::warn!(dir = %entry.path().display(), kept_as = %to.display(), "partition directory not in metadata: kept as stray (remove it by hand if it is not needed)")
                }
                Err(e) => {
                    tracing::warn!(dir = %entry.path().display(), error = %e, "partition directory not in metadata, and it could not be renamed; left in place")
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_legacy_formatted_and_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        assert_eq!(check(&dir, 1).unwrap(), LogDirState::Fresh);
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(check(&dir, 1).unwrap(), LogDirState::Fresh);

        // Partition directories but no metadata: refused, nothing removed.
        fs::create_dir_all(dir.join("orders-0")).unwrap();
        let e = check(&dir, 1).unwrap_err().to_string();
        assert!(
            e.contains(METADATA_LOG_DIR) && e.contains("1 partition directory"),
            "{e}"
        );
        // An empty metadata log directory is no metadata either, and no partition.
        fs::create_dir_all(dir.join(METADATA_LOG_DIR)).unwrap();
        let e = check(&dir, 1).unwrap_err().to_string();
        assert!(e.contains("1 partition directory"), "{e}");
        assert!(dir.join("orders-0").exists());

        fs::write(dir.join(METADATA_FILE), b"{}").unwrap();
        assert_eq!(check(&dir, 1).unwrap(), LogDirState::Legacy);

        let meta = MetaProperties {
            cluster_id: "abc".into(),
            node_id: 1,
            directory_id: new_directory_id(),
        };
        write_meta(&dir, &meta).unwrap();
        assert_eq!(read_meta(&dir).unwrap(), meta);
        let state = check(&dir, 1).unwrap();
        assert_eq!(
            state,
            LogDirState::Formatted {
                cluster_id: "abc".into(),
                node_id: 1
            }
        );
        let json = dir.join(METADATA_FILE);
        assert!(check_cluster_id(&dir, &state, "abc", &json).is_ok());
        let e = check_cluster_id(&dir, &state, "xyz", &json)
            .unwrap_err()
            .to_string();
        assert!(e.contains("xyz") && e.contains(META_PROPERTIES), "{e}");
        let e = check(&dir, 2).unwrap_err().to_string();
        assert!(e.contains("node.id 1") && e.contains("node.id 2"), "{e}");

        // The image goes missing: refused, naming it.
        fs::remove_file(dir.join(METADATA_FILE)).unwrap();
        let e = check(&dir, 1).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("the metadata log {METADATA_LOG_DIR} is missing")),
            "{e}"
        );
        assert!(dir.join("orders-0").exists());
    }

    #[test]
    fn malformed_meta_properties_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(META_PROPERTIES),
            "version=1\ncluster.id=x\n",
        )
        .unwrap();
        fs::write(dir.path().join(METADATA_FILE), b"{}").unwrap();
        let e = check(dir.path(), 1).unwrap_err().to_string();
        assert!(e.contains("no node.id"), "{e}");
        fs::write(
            dir.path().join(META_PROPERTIES),
            "version=0\ncluster.id=x\nnode.id=1\n",
        )
        .unwrap();
        let e = check(dir.path(), 1).unwrap_err().to_string();
        assert!(e.contains("version 0"), "{e}");
    }
}
