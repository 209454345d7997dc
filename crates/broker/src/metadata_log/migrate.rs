//! Migration of a data directory's `strait-metadata.json` into the metadata quorum.
//!
//! Shape: the whole JSON image becomes **one log entry** — a [`MigrationRecord`] followed
//! by the records that rebuild the image (topics with their partitions, epochs, configs and
//! mirror states, broker configs, the producer-id block end, links, ACLs, SCRAM
//! credentials) — proposed through the quorum like any other change. Why an entry and not
//! a hand-written first snapshot: the entry is atomic (the image applies all of it or
//! nothing), it is durable exactly when `propose` returns (fsync'd on a majority), it
//! replicates to every voter by the normal path, it goes through the same validation as every
//! later change (a corrupt JSON image is refused with the record that is wrong), and it needs
//! nothing of the quorum's private snapshot file format. Later snapshots bound it like any
//! other entry.
//!
//! Crash-safety rule (the JSON file stays the source of truth until the log holds it):
//! 1. the entry is proposed and acknowledged (durable), and the image read back equals the
//!    JSON image;
//! 2. only then is `strait-metadata.json` renamed to `strait-metadata.json.migrated` and the
//!    directory fsync'd.
//!
//! Re-running is always safe: with no JSON file there is nothing to do; with a JSON file and
//! an image that already applied a [`MigrationRecord`] (a crash between 1 and 2), only step
//! 2 runs. A proposal whose outcome is unknown (timeout) leaves the file in place; the next
//! run finds the record applied or proposes again. The image refuses a second
//! MigrationRecord, so two racing runs cannot apply the image twice.

use std::borrow::Borrow;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use strait_quorum::{Image, ProposeError, Quorum};

use super::image::MetadataLogImage;
use super::records::{
    config_changes, encode, ClusterLinkRecord, ConfigResourceType, MetadataRecord, MigrationRecord,
    MirrorStateRecord, PartitionRecord, ProducerIdsRecord, TopicRecord,
};
use crate::metadata::{MetadataImage, FORMAT_VERSION, METADATA_FILE};

/// What the JSON file is renamed to once the log holds it.
pub const MIGRATED_SUFFIX: &str = ".migrated";

/// Why a migration did not complete (the JSON file is then still in place).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("metadata migration I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata file {path} cannot be migrated: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("metadata migration was not committed: {0}")]
    Propose(#[from] ProposeError),
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationOutcome {
    /// No `strait-metadata.json` in the directory (never had one, or already migrated).
    NoFile,
    /// The image was proposed and committed at this log index.
    Proposed { index: u64 },
    /// The log already held the migration (a crash after the commit); only the rename ran.
    AlreadyInLog,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MigrateError + '_ {
    move |source| MigrateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `dir/strait-metadata.json` if there is one (without creating it).
pub fn read_json_image(dir: &Path) -> Result<Option<MetadataImage>, MigrateError> {
    let path = dir.join(METADATA_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let image: MetadataImage =
        serde_json::from_slice(&bytes).map_err(|e| MigrateError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
    if image.format_version != FORMAT_VERSION {
        return Err(MigrateError::Invalid {
            path,
            message: format!("unknown format_version {}", image.format_version),
        });
    }
    Ok(Some(image))
}

/// The records that rebuild `image` on an empty [`MetadataLogImage`] of the same cluster
/// and node, in the image's own order (so the rebuilt lists compare equal).
pub fn records_for(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut out = vec![MetadataRecord::Migration(MigrationRecord {
        cluster_id: image.cluster_id.clone(),
        node_id: image.node_id,
    })];
    let none = Default::default();
    for t in &image.topics {
        out.push(MetadataRecord::Topic(TopicRecord {
            name: t.name.clone(),
            topic_id: t.topic_id.clone(),
        }));
        for (i, p) in t.partitions.iter().enumerate() {
            // A JSON image predates placement: its partitions were on the node that wrote it.
            let p = p.clone().or_local(image.node_id);
            out.push(MetadataRecord::Partition(PartitionRecord {
                topic_id: t.topic_id.clone(),
                partition_id: i32::try_from(i).unwrap_or(i32::MAX),
                leader_epoch: p.leader_epoch,
                replicas: p.replicas,
                isr: p.isr,
                leader: p.leader,
                partition_epoch: p.partition_epoch,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            }));
        }
        out.extend(config_changes(
            ConfigResourceType::Topic,
            &t.name,
            &none,
            &t.configs,
        ));
        if let Some(m) = &t.mirror {
            out.push(MetadataRecord::MirrorState(MirrorStateRecord {
                topic_id: t.topic_id.clone(),
                mirror: m.clone(),
            }));
        }
    }
    out.extend(config_changes(
        ConfigResourceType::Broker,
        &image.node_id.to_string(),
        &none,
        &image.dynamic_broker_configs,
    ));
    out.extend(config_changes(
        ConfigResourceType::Broker,
        "",
        &none,
        &image.dynamic_default_broker_configs,
    ));
    if image.producer_id_block_end > 0 {
        out.push(MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: image.node_id,
            next_producer_id: image.producer_id_block_end,
        }));
    }
    for l in &image.links {
        out.push(MetadataRecord::ClusterLink(ClusterLinkRecord {
            link: l.clone(),
        }));
    }
    for a in &image.acls {
        out.push(MetadataRecord::AccessControlEntry(a.clone()));
    }
    for c in &image.scram_credentials {
        out.push(MetadataRecord::UserScramCredential(c.clone()));
    }
    out
}

/// Step 1: makes the log hold `image` (durably), unless it already does.
pub async fn propose_migration<I: Image + Borrow<MetadataLogImage>>(
    dir: &Path,
    quorum: &Quorum<I>,
    image: &MetadataImage,
) -> Result<MigrationOutcome, MigrateError> {
    let path = dir.join(METADATA_FILE);
    let invalid = |message: String| MigrateError::Invalid {
        path: path.clone(),
        message,
    };
    if quorum.read(|i| i.borrow().migrated()) {
        return Ok(MigrationOutcome::AlreadyInLog);
    }
    let entry = encode(&records_for(image)).map_err(|e| invalid(e.to_string()))?;
    let index = match quorum.propose(entry).await {
        Ok(applied) => applied.index,
        // Applied after every earlier entry, so `migrated` is now up to date: a migration
        // committed before a crash (and re-applied since) is what refused this one.
        Err(ProposeError::Rejected { .. }) if quorum.read(|i| i.borrow().migrated()) => {
            return Ok(MigrationOutcome::AlreadyInLog)
        }
        Err(ProposeError::Rejected { message, .. }) => return Err(invalid(message)),
        Err(e) => return Err(e.into()),
    };
    let rebuilt = quorum.read(|i| i.borrow().metadata().clone());
    if &rebuilt != image {
        return Err(invalid(format!(
            "the log committed the migration at index {index} but its image differs from the file; the file is kept"
        )));
    }
    Ok(MigrationOutcome::Proposed { index })
}

/// Step 2: renames the JSON file aside and makes the rename durable.
pub fn finish_migration(dir: &Path) -> Result<(), MigrateError> {
    let from = dir.join(METADATA_FILE);
    let to = dir.join(format!("{METADATA_FILE}{MIGRATED_SUFFIX}"));
    fs::rename(&from, &to).map_err(io(&from))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Migrates `dir/strait-metadata.json` into `quorum` by the rule in the module docs.
pub async fn migrate<I: Image + Borrow<MetadataLogImage>>(
    dir: &Path,
    quorum: &Quorum<I>,
) -> Result<MigrationOutcome, MigrateError> {
    let Some(image) = read_json_image(dir)? else {
        return Ok(MigrationOutcome::NoFile);
    };
    let outcome = propose_migration(dir, quorum, &image).await?;
    finish_migration(dir)?;
    tracing::info!(dir = %dir.display(), ?outcome, "migrated strait-metadata.json into the metadata log");
    Ok(outcome)
}
