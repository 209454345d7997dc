//! The link's availability check (`availability.check.ms`,
//! `availability.check.consecutive.failure.threshold`).
//!
//! Every `availability.check.ms` the checker asks the source for metadata (no topics: the
//! cheapest request that proves a broker is reachable, authenticates us and answers). A
//! check that fails or does not answer within the interval counts as a failure; after the
//! threshold of failures in a row the link becomes UNAVAILABLE and its mirrors show
//! SOURCE_UNAVAILABLE with the reason. The first check (or any other source request of the
//! link loop) that succeeds makes the link ACTIVE again; the link loop reconnects on its own
//! and mirroring resumes where each mirror's local log ends.
//!
//! Invariant: only this checker counts failures, so the time to UNAVAILABLE is bounded by
//! `threshold × availability.check.ms` (plus scheduling), independent of fetch timing; a
//! single failed fetch or metadata refresh never flips the link state.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use strait_client::Client;

use crate::runtime::classify;
use crate::shared::LinkShared;
use crate::state::LinkState;

/// Runs the checks until the link is deleted. A paused link is not checked (and makes no
/// connection); the checks start when it is resumed. Intervals and connection settings
/// are re-read every round, so `cluster-links --alter` applies to them at once.
pub async fn run_availability_check(shared: Arc<LinkShared>) {
    let mut client: Option<Client> = None;
    let mut generation = shared.client_generation();
    while !shared.deleted.load(Ordering::Acquire) {
        let config = shared.config();
        if config.paused || shared.client_generation() != generation {
            // Paused, or credentials / addresses altered: the old connection goes.
            if let Some(c) = client.take() {
                c.close().await;
            }
            generation = shared.client_generation();
            if config.paused {
                // Polled rather than woken: the link loop owns `wake` (a permit taken
                // here would be lost to it).
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        let interval = Duration::from_millis(config.availability_check_ms.max(1));
        let started = tokio::time::Instant::now();
        let probe = async {
            let c = match &client {
                Some(c) => c.clone(),
                None => Client::connect(&shared.client_config()).await?,
            };
            c.refresh_metadata(&[]).await?;
            Ok::<Client, strait_client::ClientError>(c)
        };
        match tokio::time::timeout(interval, probe).await {
            Ok(Ok(c)) => {
                client = Some(c);
                shared.source_answered(false);
            }
            Ok(Err(e)) => {
                if let Some(c) = client.take() {
                    c.close().await;
                }
                let (state, reason) = classify(&e);
                if state == LinkState::Failed {
                    // The source answered, and refused us: that needs an operator, and the
                    // link loop reports it as FAILED with the reason.
                    shared.source_answered(false);
                } else {
                    shared.availability_check_failed(
                        reason,
                        format!("cannot reach the source cluster: {e}"),
                    );
                }
            }
            Err(_) => {
                if let Some(c) = client.take() {
                    c.close().await;
                }
                shared.availability_check_failed(
                    "TIMEOUT_ERROR",
                    format!(
                        "no answer from the source cluster within {} ms",
                        interval.as_millis()
                    ),
                );
            }
        }
        tokio::time::sleep_until(started + interval).await;
    }
}
