//! The broker's metadata log (issue 12, KRaft's shape): cluster metadata as small typed
//! records ([`records`]) replicated by `strait_quorum` and applied to an in-memory image
//! ([`image::MetadataLogImage`], today's [`crate::metadata::MetadataImage`] plus the
//! registered brokers), and the migration of an existing `strait-metadata.json`
//! ([`migrate`]). [`MetadataLog`] ([`handle`]) is the one owner of broker metadata on disk:
//! `TopicManager` commits every change through it, as the entry [`diff::diff`] derives from
//! the image before and after the change. The log lives in `<log.dirs>/__cluster_metadata-0/`.
//!
//! Owns the record vocabulary, its encoding, the image's invariants (listed in [`image`]),
//! the translation of a change into records ([`diff`]), the quorum's thread ([`handle`]),
//! the publisher thread and its exactly-once, in-order delivery ([`publish`]) and the
//! migration's crash-safety rule (in [`migrate`]).
//!
//! Local state follows the log, not the proposer: every applied entry — proposed here or
//! by another node — is handed to the registered publishers ([`publish`]) as a
//! [`publish::MetadataDelta`]; `TopicManager` is the topic publisher (`topics/publish.rs`).
//!
//! Invariant: one log entry is one metadata change as `TopicManager` makes it, applied
//! atomically. Each `TopicManager` mutation (once a `strait-metadata.json` save) commits one
//! entry, whose records [`diff::diff`] derives — for each caller they are:
//!
//! | caller (`topics.rs`, `topics/*`)       | entry                                                     |
//! |----------------------------------------|-----------------------------------------------------------|
//! | `create_topic`, `create_mirror_topic`  | TopicRecord, PartitionRecord × n, ConfigRecord × k, MirrorStateRecord (mirrors) |
//! | `delete_topic`                         | RemoveTopicRecord                                         |
//! | `create_partitions`                    | PartitionRecord × added                                   |
//! | `set_topic_configs`                    | ConfigRecord × changed keys ([`records::config_changes`]) |
//! | `set_dynamic_broker_configs`           | ConfigRecord × changed keys (broker = node id, or `""`)   |
//! | `reserve_producer_ids(_above)`         | ProducerIdsRecord                                         |
//! | `update_mirror`, `begin_restore`, `finish_restore` | MirrorStateRecord                              |
//! | `raise_leader_epoch` / `persist_epochs`| PartitionChangeRecord × partitions                        |
//! | `promote` (cutover)                    | PartitionChangeRecord × n, MirrorStateRecord (STOPPED, final offsets, aborted counts), ProducerIdsRecord if the barrier moves |
//! | `put_link` / `remove_link`             | ClusterLinkRecord / RemoveClusterLinkRecord               |
//! | `update_security` (ACLs, SCRAM)        | (Remove)AccessControlEntryRecord, (Remove)UserScramCredentialRecord ([`records::security_changes`]) |
//! | start-up on a `strait-metadata.json`   | the migration entry ([`migrate`])                         |
//!
//! The multi-record entries are sequences, not one big record, because each piece is a
//! Kafka record with its own meaning (and its own version), and the image applies the whole
//! entry or nothing — as KRaft's controller writes one operation's records as one atomic
//! batch. Promote must stay one entry: DESIGN invariant 8 (final offsets, epoch bump and
//! producer-id barrier in one metadata change). With several voters each broker proposes
//! its RegisterBrokerRecord once the quorum is up (`broker.rs`), and the active controller
//! proposes BrokerRegistrationChangeRecord to fence / unfence (`controller.rs`); neither goes
//! through `diff`.

pub mod diff;
pub mod handle;
pub mod image;
pub mod migrate;
pub mod publish;
pub mod records;

pub use handle::{MetadataLog, MetadataLogError, QuorumSetup, METADATA_LOG_DIR, METADATA_TOPIC};
pub use image::{MetadataLogImage, SNAPSHOT_VERSION};
pub use publish::{MetadataDelta, MetadataPublisher, TopicDelta};
pub use records::{decode, encode, MetadataRecord};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
