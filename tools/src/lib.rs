//! Operator command-line tools for Strait's cluster links and mirror topics.
//!
//! Two binaries, `cluster-links` and `mirrors`, accept the flags of Confluent's
//! `kafka-cluster-links` and `kafka-mirrors` (so the commands in seed 004 work unchanged
//! once the binary name is swapped) and talk to the destination broker over Strait's
//! private admin API (`strait_protocol::admin`, keys 20000-20005).
//!
//! # Layout
//! * [`argv`]: turns Confluent's operation flags (`--create`, `--promote` ...) into clap
//!   subcommands, so `cluster-links --create ...` and `cluster-links create ...` parse to
//!   the same command.
//! * [`connect`]: the client side: `--bootstrap-server` plus `--command-config` become a
//!   [`strait_client::ClientConfig`]; [`connect::AdminClient`] sends one admin request.
//! * [`link_config`]: merges `--config-file`, `--config` and the filter-JSON flags into the
//!   link's key/value configs and validates them locally with `strait_link`, so mistakes
//!   fail fast with a message naming the file and key.
//! * [`output`]: aligned tables, JSON, and the one-line rendering of broker errors.
//! * [`error`]: [`error::ToolError`] and the exit-code contract.
//! * [`cluster_links`], [`mirrors`]: the two commands: clap definitions, request
//!   building, response rendering (pure, unit-tested) and the `main` of each binary.
//!
//! Usage and flag reference: `tools/README.md`.
//!
//! # Exit codes
//! `0` success; `1` the broker refused something (any item) or could not be reached;
//! `2` a usage error: bad flags, an unreadable or invalid config or filter file.
//!
//! # Invariants
//! * No panics on any input: every failure is a [`error::ToolError`] or an item error.
//! * Secret values (`sasl.jaas.config`, `*.password`, private keys) are never printed:
//!   not in tables, JSON, warnings or error messages.

pub mod argv;
pub mod cluster_links;
pub mod connect;
pub mod error;
pub mod link_config;
pub mod mirrors;
pub mod output;

pub use error::ToolError;
pub use output::{OutputFormat, Report};
