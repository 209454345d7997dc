//! [`RequestBatch`]: a request's per-partition work gathered for one hand-off to the I/O
//! threads ([`super::LogManager::submit_on_lanes`]), with the partitions refused before any
//! I/O (authorization, unknown partition, a read-only mirror) answered in place.
//!
//! Handlers walk their request's topics and partitions once to prepare, in the order they
//! will build the response, then walk it again consuming [`RequestBatch::run`]'s answers
//! in the same order: the batch owns the bookkeeping of which slot is a queued job, so the
//! handlers do not.
//!
//! Invariant: `run` returns exactly one answer per pushed slot, in push order; a job that
//! could not run (the pool is shut down) answers `closed()`, never nothing.

use std::sync::Arc;

use super::{Lane, LogManager};

enum Slot<R> {
    Done(R),
    Queued(usize),
}

/// Slots of answers `R`, some of them jobs `T` queued on a partition's lane.
pub struct RequestBatch<T, R> {
    jobs: Vec<(Arc<Lane>, T)>,
    slots: Vec<Slot<R>>,
}

impl<T, R> Default for RequestBatch<T, R> {
    fn default() -> Self {
        RequestBatch {
            jobs: Vec::new(),
            slots: Vec::new(),
        }
    }
}

impl<T, R> RequestBatch<T, R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    /// A job for `lane`, or the slot's answer already.
    pub fn push(&mut self, prepared: Result<(Arc<Lane>, T), R>) {
        let slot = match prepared {
            Ok(job) => {
                self.jobs.push(job);
                Slot::Queued(self.jobs.len() - 1)
            }
            Err(answer) => Slot::Done(answer),
        };
        self.slots.push(slot);
    }

    /// Runs the queued jobs with `f` in one hand-off and returns every slot's answer in
    /// push order.
    pub async fn run(
        self,
        io: &LogManager,
        f: impl Fn(T) -> R + Send + Sync + 'static,
        closed: impl Fn() -> R,
    ) -> Vec<R> {
        let ran = if self.jobs.is_empty() {
            Ok(Vec::new())
        } else {
            io.run_on_lanes(self.jobs, f).await
        };
        gather(self.slots, ran.ok(), closed)
    }
}

fn gather<R>(slots: Vec<Slot<R>>, ran: Option<Vec<R>>, closed: impl Fn() -> R) -> Vec<R> {
    let mut ran: Vec<Option<R>> = ran
        .map(|r| r.into_iter().map(Some).collect())
        .unwrap_or_default();
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Done(answer) => answer,
            Slot::Queued(i) => ran
                .get_mut(i)
                .and_then(Option::take)
                .unwrap_or_else(&closed),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_come_back_in_push_order_with_refusals_in_place() {
        let io = LogManager::start(2).unwrap();
        let lanes: Vec<Arc<Lane>> = (0..3).map(|_| Arc::new(Lane::default())).collect();
        let mut batch: RequestBatch<i32, Result<i32, String>> = RequestBatch::default();
        batch.push(Ok((lanes[0].clone(), 1)));
        batch.push(Err(Err("refused".into())));
        batch.push(Ok((lanes[1].clone(), 2)));
        batch.push(Ok((lanes[0].clone(), 3)));
        let answers = batch
            .run(&io, |n| Ok(n * 10), || Err("closed".into()))
            .await;
        assert_eq!(answers, vec![Ok(10), Err("refused".into()), Ok(20), Ok(30)]);
    }

    #[tokio::test]
    async fn a_shut_down_pool_answers_closed_for_every_job_only() {
        let io = LogManager::start(1).unwrap();
        io.shutdown();
        let lane = Arc::new(Lane::default());
        let mut batch: RequestBatch<i32, Result<i32, String>> = RequestBatch::default();
        batch.push(Ok((lane.clone(), 1)));
        batch.push(Err(Err("refused".into())));
        let answers = batch.run(&io, Ok, || Err("closed".into())).await;
        assert_eq!(answers, vec![Err("closed".into()), Err("refused".into())]);
    }
}
