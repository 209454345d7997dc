//! The coordinator's timer: the task that drives join/sync/session deadlines, expires
//! offsets past retention and compacts the group store.
//!
//! Invariants: the task holds only a weak reference to the coordinator (it ends when
//! the coordinator is dropped) and never holds the state mutex across an `.await`;
//! the store fsync runs on a blocking thread.

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- timer

    /// Runs due deadlines; returns when the timer should run next.
    pub(super) fn tick(&self) -> (Instant, Option<std::fs::File>) {
        let now = Instant::now();
        let cfg = &self.config;
        let mut st = lock(&self.state);
        let ids: Vec<String> = st.groups.keys().cloned().collect();
        let mut next = now + TIMER_MAX_SLEEP;
        for id in &ids {
            if let Some(g) = st.groups.get_mut(id) {
                g.on_timer(cfg, now);
            }
            st.settle(id);
            if let Some(d) = st.groups.get(id).and_then(Group::next_deadline) {
                next = next.min(d);
            }
        }
        let retention_every = Duration::from_millis(cfg.offsets_retention_check_interval_ms);
        if now.duration_since(st.last_retention_check) >= retention_every {
            st.last_retention_check = now;
            self.expire_offsets(&mut st);
        }
        if st.store.wants_compaction() {
            if let Err(e) = compact(&mut st) {
                tracing::warn!(error = %e, "group store compaction failed");
            }
        }
        let sync = st.store.sync_handle();
        (next.max(now + Duration::from_millis(1)), sync)
    }

    /// Offsets retention (KIP-211): offsets of a group without members expire
    /// `offsets.retention.minutes` after the group became empty (or, for groups that never
    /// used group management, after the commit); offsets of topics an active consumer group
    /// no longer subscribes to expire after their commit. Offsets of deleted topics go
    /// right away. A group left with no offsets and no members is removed.
    pub(super) fn expire_offsets(&self, st: &mut State) {
        let now = now_ms();
        let retention = self.config.offsets_retention_ms;
        let mut records = Vec::new();
        for g in st.groups.values() {
            let mut gone = Vec::new();
            for ((topic, p), o) in &g.offsets {
                let expired = if !self.offset_applies(topic, o) {
                    true
                } else if g.txn.contains(topic, *p) {
                    // A transaction may still commit this partition (Kafka waits too).
                    false
                } else if g.state == GroupState::Empty {
                    let base = if g.protocol_type.is_some() {
                        g.state_ts.max(o.commit_ts)
                    } else {
                        o.commit_ts
                    };
                    now.saturating_sub(base) >= retention
                } else if g.state == GroupState::Stable {
                    g.subscribed_topics
                        .as_ref()
                        .is_some_and(|s| !s.contains(topic))
                        && now.saturating_sub(o.commit_ts) >= retention
                } else {
                    false
                };
                if expired {
                    gone.push((topic.clone(), *p));
                }
            }
            for key in self.stale_txn_offsets(g) {
                if !gone.contains(&key) {
                    gone.push(key);
                }
            }
            if !gone.is_empty() {
                records.push(Record::OffsetsDeleted {
                    group: g.id.clone(),
                    partitions: gone,
                });
            }
        }
        for record in records {
            match st.store.append(&record) {
                Ok(()) => apply_record(&mut st.groups, record),
                Err(e) => tracing::warn!(error = %e, "cannot persist offset expiry"),
            }
        }
        let empty: Vec<String> = st
            .groups
            .values()
            .filter(|g| {
                g.state == GroupState::Empty
                    && g.members.is_empty()
                    && g.pending.is_empty()
                    && g.offsets.is_empty()
                    && g.txn.is_empty()
                    && now.saturating_sub(g.state_ts) >= retention
            })
            .map(|g| g.id.clone())
            .collect();
        for id in empty {
            if st
                .store
                .append(&Record::GroupDeleted { group: id.clone() })
                .is_ok()
            {
                st.groups.remove(&id);
                tracing::info!(group = %id, "removed empty group with no offsets left");
            }
        }
    }

    /// Rewrites the store as a snapshot of the live state now.
    pub fn compact_store(&self) -> Result<(), MetadataError> {
        let mut st = lock(&self.state);
        compact(&mut st)
    }

    /// Size of the store's log in bytes (for tests and diagnostics).
    pub fn store_len(&self) -> u64 {
        lock(&self.state).store.len()
    }
}

pub(super) fn compact(st: &mut State) -> Result<(), MetadataError> {
    let mut records = Vec::new();
    let mut ids: Vec<&String> = st.groups.keys().collect();
    ids.sort();
    for id in ids {
        let Some(g) = st.groups.get(id) else { continue };
        if !g.persisted && g.offsets.is_empty() && g.txn.is_empty() {
            continue;
        }
        records.push(g.group_record());
        // Committed and pending offsets, in the order that decides between them.
        txn_offsets::snapshot_offsets(g, &mut records);
    }
    let before = st.store.len();
    st.store.rewrite(&records)?;
    tracing::info!(
        before_bytes = before,
        after_bytes = st.store.len(),
        "compacted group store"
    );
    Ok(())
}

pub(super) async fn run_timer(weak: Weak<GroupCoordinator>, wake: Arc<Notify>) {
    loop {
        let (next, sync) = match weak.upgrade() {
            Some(c) => c.tick(),
            None => return,
        };
        if let Some(f) = sync {
            if let Err(e) = tokio::task::spawn_blocking(move || f.sync_data()).await {
                tracing::warn!(error = %e, "group store fsync task failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = wake.notified() => {}
        }
    }
}
