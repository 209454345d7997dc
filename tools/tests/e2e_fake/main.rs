//! The real binaries against an in-process fake admin server: flags become the right
//! requests, canned responses become the right output and exit codes.
//!
//! The tests are in [`links`] (`cluster-links`), [`mirrors`] (`mirrors`) and [`errors`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod errors;
mod links;
mod mirrors;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use strait_protocol::admin::*;
