//! The two append paths of [`PartitionLog`]: `append_leader` (client produce: validate,
//! deduplicate, assign offsets, stamp the epoch) and `append_mirrored` (byte-for-byte,
//! Kafka's `appendAsFollower`), plus how batches are written and when segments roll.
//!
//! Every append is staged: validation first, then [`PartitionLog::commit_append`] writes
//! and only then updates in-memory state; an I/O error either leaves the log exactly as
//! before (retriable) or takes the partition offline (see `commit_append`).

use std::collections::HashMap;

use strait_records::batch::{set_base_offset, set_max_timestamp, set_partition_leader_epoch};
use strait_records::{decode_records, BatchHeader, BatchIter, RecordBatch, TimestampType};

use std::io;

use super::{PartitionLog, VerificationGuard};
use crate::error::{AppendError, AppendFailure, StorageError};
use crate::producer::{end_marker_of, ClientCheck, ProducerEntry, ProducerStateManager};
use crate::segment::BatchMeta;
use crate::{LeaderAppendInfo, MirrorAppendInfo};

impl PartitionLog {
    /// Client produce path (Kafka `appendAsLeader`): validates, deduplicates idempotent
    /// retries, assigns offsets from the log end, stamps `leader_epoch`, applies
    /// `LogAppendTime`, writes, and applies the flush policy.
    ///
    /// Transactional batches (Kafka `ProducerAppendInfo`, CLIENT origin, and
    /// `UnifiedLog.analyzeAndValidateProducerState`):
    /// * epochs and sequences are checked as for idempotent batches (an older epoch is
    ///   `InvalidProducerEpoch`, a new epoch must start at sequence 0), and retries are
    ///   deduplicated the same way;
    /// * one append is one producer's and all transactional, or holds no transactional
    ///   batch at all (`InvalidRecord`; Kafka's produce carries a single batch per partition);
    /// * a batch that would open a transaction needs `guard` to be the one
    ///   [`PartitionLog::start_txn_verification`] handed out for this producer and epoch,
    ///   still unspent and not cleared by a marker; a batch continuing the producer's open
    ///   transaction (same epoch) needs none. Otherwise `InvalidTxnState`. Callers with no
    ///   coordinator check pass [`VerificationGuard::NONE`];
    /// * a non-transactional batch of a producer whose transaction is open is
    ///   `InvalidTxnState` (Kafka: "Expected transactional write from producer").
    ///
    /// The first transactional batch opens the producer's transaction at its offset, which
    /// pins the last stable offset there until a marker closes it.
    pub fn append_leader(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        guard: VerificationGuard,
    ) -> Result<LeaderAppendInfo, AppendError> {
        self.check_online().map_err(AppendError::Offline)?;
        let batches = BatchIter::frame_all(records).map_err(AppendError::Corrupt)?;
        if batches.is_empty() {
            return Err(AppendError::InvalidRecord(
                "produce request carries no record batches".into(),
            ));
        }
        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        // Kafka's LogValidator: a compacted topic cannot hold a record it could never
        // compact. Only the leader path checks; mirrored bytes are stored as served.
        let compacted = self.config.cleanup_policy.compact;
        let txn_producer = transactional_producer(&batches)?;
        let mut staged: HashMap<i64, ProducerEntry> = HashMap::new();
        let mut duplicates = Vec::new();
        // (header with its final offsets, max record timestamp)
        let mut planned: Vec<(BatchHeader, i64)> = Vec::with_capacity(batches.len());
        let mut next_offset = self.log_end_offset;
        let mut record_count = 0i64;
        for (i, batch) in batches.iter().enumerate() {
            let size = batch.size_in_bytes();
            if size > self.config.max_message_bytes as usize {
                return Err(AppendError::RecordTooLarge {
                    size,
                    max: self.config.max_message_bytes,
                });
            }
            batch.validate_crc().map_err(AppendError::Corrupt)?;
            let mut h = batch.header();
            if h.is_control() {
                return Err(AppendError::InvalidRecord(format!(
                    "batch {i} is a control batch; clients may not write control records"
                )));
            }
            if h.last_offset_delta < 0
                || i64::from(h.records_count) != i64::from(h.last_offset_delta) + 1
            {
                return Err(AppendError::InvalidRecord(format!(
                    "batch {i}: recordsCount {} does not match lastOffsetDelta {}",
                    h.records_count, h.last_offset_delta
                )));
            }
            // Kafka validates every record on the leader path; a malformed record accepted
            // here would break every consumer that reads past it.
            let recs = decode_records(batch).map_err(AppendError::Corrupt)?;
            let mut max_ts = -1i64;
            for (j, r) in recs.iter().enumerate() {
                if r.offset_delta != j as i32 {
                    return Err(AppendError::InvalidRecord(format!(
                        "batch {i}: record {j} has offsetDelta {}, expected {j}",
                        r.offset_delta
                    )));
                }
                if compacted && r.key.is_none() {
                    // Kafka's record_errors.batch_index is the record's index within its batch;
                    // the Java client blames exactly that record.
                    return Err(AppendError::CompactedTopicRequiresKey {
                        batch: i,
                        batch_index: j,
                    });
                }
                max_ts = max_ts.max(batch.base_timestamp().wrapping_add(r.timestamp_delta));
            }
            h.base_offset = next_offset;
            if h.producer_id >= 0 {
                if h.base_sequence < 0 {
                    return Err(AppendError::InvalidRecord(format!(
                        "batch {i}: producer id {} without a base sequence",
                        h.producer_id
                    )));
                }
                let current = staged
                    .get(&h.producer_id)
                    .or_else(|| self.producers.get(h.producer_id));
                match ProducerStateManager::check_client(current, &h)? {
                    ClientCheck::Duplicate(meta) => {
                        duplicates.push(meta);
                        continue;
                    }
                    ClientCheck::Append => {
                        self.check_txn_batch(i, current, &h, guard)?;
                        let mut entry = current
                            .cloned()
                            .unwrap_or_else(|| ProducerEntry::new(h.producer_epoch));
                        entry.add(h.producer_epoch, ProducerEntry::meta_of(&h));
                        staged.insert(h.producer_id, entry);
                    }
                }
            }
            next_offset = h.last_offset() + 1;
            record_count += i64::from(h.records_count);
            planned.push((h, max_ts));
        }
        if !duplicates.is_empty() {
            if !planned.is_empty() {
                return Err(AppendError::InvalidRecord(
                    "append mixes duplicate (already written) and new idempotent batches".into(),
                ));
            }
            let first = duplicates[0];
            let last = duplicates[duplicates.len() - 1];
            return Ok(LeaderAppendInfo {
                base_offset: first.first_offset,
                last_offset: last.last_offset,
                log_append_time_ms: -1,
                log_start_offset: self.log_start_offset,
                duplicate: true,
                record_count: duplicates
                    .iter()
                    .map(|d| d.last_offset - d.first_offset + 1)
                    .sum(),
            });
        }

        // Stamp offsets, epoch and timestamps on a private copy.
        let mut buf = records.to_vec();
        let mut metas = Vec::with_capacity(planned.len());
        let mut pos = 0usize;
        for (batch, (h, max_ts)) in batches.iter().zip(planned.iter_mut()) {
            let size = batch.size_in_bytes();
            let b = &mut buf[pos..pos + size];
            set_base_offset(b, h.base_offset);
            set_partition_leader_epoch(b, leader_epoch);
            let max_timestamp = if log_append_time {
                set_max_timestamp(b, TimestampType::LogAppendTime, now_ms);
                now_ms
            } else {
                set_max_timestamp(b, TimestampType::CreateTime, *max_ts);
                *max_ts
            };
            // Producer state keeps the stamped value (DescribeProducers' lastTimestamp).
            h.max_timestamp = max_timestamp;
            metas.push(BatchMeta {
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
                max_timestamp,
                size,
            });
            pos += size;
        }
        let base_offset = self.log_end_offset;
        self.commit_append(
            &buf,
            &metas,
            &[(leader_epoch, base_offset)],
            record_count,
            now_ms,
            |log| {
                for (h, _) in &planned {
                    log.apply_producer_batch(h, None)?;
                }
                if let Some((producer_id, _)) = txn_producer {
                    // The open transaction is the proof from now on; the guard is spent.
                    log.clear_verification(producer_id);
                }
                Ok(())
            },
        )?;
        Ok(LeaderAppendInfo {
            base_offset,
            last_offset: self.log_end_offset - 1,
            log_append_time_ms: if log_append_time { now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
            duplicate: false,
            record_count,
        })
    }

    /// The transaction rules of [`Self::append_leader`] for batch `i`, after its epoch and
    /// sequence passed (`current` is the producer's state including staged batches).
    fn check_txn_batch(
        &self,
        i: usize,
        current: Option<&ProducerEntry>,
        h: &BatchHeader,
        guard: VerificationGuard,
    ) -> Result<(), AppendError> {
        let open = current.and_then(|e| e.current_txn_first_offset);
        if !h.is_transactional() {
            return match open {
                Some(first) => Err(AppendError::InvalidTxnState(format!(
                    "batch {i}: expected a transactional write from producer {}: its \
                     transaction is open since offset {first}",
                    h.producer_id
                ))),
                None => Ok(()),
            };
        }
        if self.has_ongoing_txn(h.producer_id, h.producer_epoch)
            || self.guard_matches(h.producer_id, h.producer_epoch, guard)
        {
            return Ok(());
        }
        Err(AppendError::InvalidTxnState(format!(
            "batch {i}: transactional write from producer {} epoch {} was not part of an \
             ongoing transaction (not verified with the transaction coordinator, or its \
             transaction ended meanwhile)",
            h.producer_id, h.producer_epoch
        )))
    }

    /// Mirror path (Kafka `appendAsFollower`): whole batches stored byte-for-byte.
    /// Verifies CRCs and strictly increasing offsets (the first batch must start at or
    /// after the log end), builds the epoch cache from the batches' epochs and updates
    /// producer state without sequence checks (transactions included: markers close them,
    /// aborts go to the `.txnindex`). No `max.message.bytes` check. A control batch whose
    /// marker cannot be read is refused (`Corrupt`), like a bad CRC, before anything is
    /// written.
    pub fn append_mirrored(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<MirrorAppendInfo, AppendError> {
        self.check_online().map_err(AppendError::Offline)?;
        let batches = BatchIter::frame_all(records).map_err(AppendError::Corrupt)?;
        let mut headers = Vec::with_capacity(batches.len());
        let mut markers = Vec::with_capacity(batches.len());
        let mut metas = Vec::with_capacity(batches.len());
        let mut prev_last: Option<i64> = None;
        for batch in &batches {
            batch.validate_crc().map_err(AppendError::Corrupt)?;
            let h = batch.header();
            if h.base_offset < 0 || h.last_offset_delta < 0 {
                return Err(AppendError::InvalidRecord(format!(
                    "batch with baseOffset {} has lastOffsetDelta {}",
                    h.base_offset, h.last_offset_delta
                )));
            }
            match prev_last {
                None if h.base_offset < self.log_end_offset => {
                    return Err(AppendError::UnexpectedAppendOffset {
                        first_offset: h.base_offset,
                        log_end_offset: self.log_end_offset,
                    })
                }
                Some(prev) if h.base_offset <= prev => {
                    return Err(AppendError::OffsetsOutOfOrder {
                        base_offset: h.base_offset,
                        previous_last_offset: prev,
                    })
                }
                _ => {}
            }
            prev_last = Some(h.last_offset());
            markers.push(end_marker_of(batch).map_err(AppendError::Corrupt)?);
            metas.push(BatchMeta::of_header(&h, batch.size_in_bytes()));
            headers.push(h);
        }
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Ok(MirrorAppendInfo {
                first_offset: -1,
                last_offset: -1,
                batches: 0,
                bytes: 0,
                max_epoch: -1,
            });
        };
        let info = MirrorAppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset(),
            batches: headers.len(),
            bytes: records.len(),
            max_epoch: headers
                .iter()
                .map(|h| h.partition_leader_epoch)
                .max()
                .unwrap_or(-1),
        };
        let epochs: Vec<(i32, i64)> = headers
            .iter()
            .map(|h| (h.partition_leader_epoch, h.base_offset))
            .collect();
        let record_count = headers
            .iter()
            .map(|h| i64::from(h.records_count.max(0)))
            .sum();
        self.commit_append(records, &metas, &epochs, record_count, now_ms, |log| {
            for (h, marker) in headers.iter().zip(markers) {
                log.apply_producer_batch(h, marker)?;
            }
            Ok(())
        })?;
        Ok(info)
    }

    /// The write phase shared by every append path, after validation: records the leader
    /// epochs `(epoch, start offset)`, writes the batches, then lets `apply` update
    /// producer and transaction state, then applies the flush policy.
    ///
    /// Staging: like Kafka, the epoch is recorded before the data (an entry with no data
    /// after it is harmless, data with no entry is not), but the previous entries are kept
    /// and put back if the data write fails before any byte was committed — then the log
    /// is exactly as before and the error is retriable. Any later failure (epoch
    /// checkpoint, index write, roll, `.txnindex`, fsync, checkpoint) means files and
    /// memory may disagree, so the partition goes offline instead of reusing offsets.
    pub(super) fn commit_append(
        &mut self,
        bytes: &[u8],
        metas: &[BatchMeta],
        epochs: &[(i32, i64)],
        record_count: i64,
        now_ms: i64,
        apply: impl FnOnce(&mut Self) -> Result<(), StorageError>,
    ) -> Result<(), AppendError> {
        let mut saved_epochs = None;
        for &(epoch, start) in epochs {
            if saved_epochs.is_none() && self.epochs.would_change(epoch, start) {
                saved_epochs = Some(self.epochs.entries().to_vec());
            }
            self.epochs.assign(epoch, start);
        }
        if saved_epochs.is_some() {
            if let Err(e) = self.epochs.flush() {
                return Err(AppendError::Offline(self.go_offline(e)));
            }
        }
        match self.write_batches(bytes, metas, now_ms) {
            Ok(()) => {}
            Err(AppendFailure::NotWritten(e)) => {
                if let Some(entries) = saved_epochs {
                    self.epochs.restore(entries);
                    if let Err(f) = self.epochs.flush() {
                        let cause = format!("{e}; restoring the leader-epoch checkpoint: {f}");
                        return Err(AppendError::Offline(self.go_offline(cause)));
                    }
                }
                tracing::warn!(dir = %self.dir.display(), error = %e, "append not written");
                return Err(AppendError::Io(e));
            }
            Err(AppendFailure::Torn(e)) => return Err(AppendError::Offline(self.go_offline(e))),
        }
        if let Err(e) = apply(self) {
            return Err(AppendError::Offline(self.go_offline(e)));
        }
        // `after_append` takes the partition offline itself if its fsync fails.
        self.after_append(record_count, now_ms)?;
        Ok(())
    }

    /// Writes batches into the active segment, rolling before any batch that does not fit.
    /// Consecutive batches that fit go out in one `pwrite`. The log end offset advances
    /// only after the last run is written: a split append lands whole, and once one run
    /// has been written any later failure (including the roll) is [`AppendFailure::Torn`].
    fn write_batches(
        &mut self,
        bytes: &[u8],
        metas: &[BatchMeta],
        now_ms: i64,
    ) -> Result<(), AppendFailure> {
        let interval = self.config.index_interval_bytes;
        let (mut run_start, mut run_byte_start, mut byte_pos) = (0usize, 0usize, 0usize);
        let mut pending = 0u64;
        let mut written_any = false;
        // After a run was written, nothing that follows can be undone cleanly.
        let torn = |written: bool, f: AppendFailure| match f {
            AppendFailure::NotWritten(e) if written => AppendFailure::Torn(e),
            other => other,
        };
        for (i, meta) in metas.iter().enumerate() {
            if self.should_roll(meta, pending, now_ms) {
                if i > run_start {
                    self.active
                        .append(
                            &bytes[run_byte_start..byte_pos],
                            &metas[run_start..i],
                            interval,
                            now_ms,
                        )
                        .map_err(|f| torn(written_any, f))?;
                    written_any = true;
                }
                // A failed roll may leave new files or a half-finished swap of the active
                // segment: never retriable.
                let base = meta.base_offset.max(self.active.next_offset());
                self.roll(base)
                    .map_err(|e| AppendFailure::Torn(io::Error::other(e.to_string())))?;
                run_start = i;
                run_byte_start = byte_pos;
                pending = 0;
            }
            pending += meta.size as u64;
            byte_pos += meta.size;
        }
        if run_start < metas.len() {
            self.active
                .append(
                    &bytes[run_byte_start..byte_pos],
                    &metas[run_start..],
                    interval,
                    now_ms,
                )
                .map_err(|f| torn(written_any, f))?;
        }
        self.log_end_offset = self.active.next_offset();
        Ok(())
    }

    /// Kafka's `shouldRoll`, evaluated before appending `meta` after `pending` bytes that
    /// are about to be written to the active segment.
    fn should_roll(&self, meta: &BatchMeta, pending: u64, now_ms: i64) -> bool {
        let a = &self.active;
        // Relative offsets are 32-bit: a huge gap (compacted or mirrored source) forces a
        // new segment based at this batch, even if the active one is empty.
        if meta.last_offset - a.base_offset() > i64::from(i32::MAX) {
            return true;
        }
        let size = a.size() + pending;
        if size == 0 {
            return false;
        }
        let max_segment = self.config.segment_bytes.min(i32::MAX as u64);
        let rolling_base = a.rolling_base_ms.or((pending > 0).then_some(now_ms));
        let max_index = u64::from(self.config.segment_index_bytes);
        size + meta.size as u64 > max_segment
            || rolling_base.is_some_and(|t| now_ms.saturating_sub(t) > self.max_segment_ms())
            || a.offset_index_bytes() + 8 > max_index
            || a.time_index_bytes() + 12 > max_index
    }
}

/// The producer `(id, epoch)` of an append holding transactional batches, `None` if it
/// holds none. Such an append must be one producer's and all transactional (with a
/// producer id), so one verification covers it and no batch can slip out of the
/// transaction. Control batches are refused later, with their own message.
fn transactional_producer(batches: &[RecordBatch<'_>]) -> Result<Option<(i64, i16)>, AppendError> {
    let mut producer = None;
    let mut plain = false;
    for b in batches {
        let h = b.header();
        if h.is_control() {
            continue;
        }
        if !h.is_transactional() {
            plain = true;
            continue;
        }
        if h.producer_id < 0 {
            return Err(AppendError::InvalidRecord(
                "a transactional batch has no producer id".into(),
            ));
        }
        match producer {
            None => producer = Some((h.producer_id, h.producer_epoch)),
            Some(p) if p != (h.producer_id, h.producer_epoch) => {
                return Err(AppendError::InvalidRecord(format!(
                    "transactional batches of producers {p:?} and {:?} in one partition of one \
                     produce request",
                    (h.producer_id, h.producer_epoch)
                )));
            }
            Some(_) => {}
        }
    }
    if producer.is_some() && plain {
        return Err(AppendError::InvalidRecord(
            "transactional records cannot be mixed with non-transactional ones in one \
             partition of one produce request"
                .into(),
        ));
    }
    Ok(producer)
}
