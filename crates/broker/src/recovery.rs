//! Start-up recovery of partition logs on `num.recovery.threads.per.data.dir` threads.
//! Recovering one log (index rebuild, truncating a torn tail) is independent of every
//! other, so they are opened in parallel; the result keeps the image's order, and the
//! first failure (in that order) is the error start-up reports.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use strait_storage::PartitionLog;

use crate::metadata::MetadataImage;
use crate::topic_config::TopicDefaults;
use crate::topics::{partition_dir, StartupError};

/// Opens every partition log the image names, in image order, on `threads` threads
/// (recovery of one log is independent of the others). The first failure wins.
pub fn open_logs(
    log_dir: &Path,
    image: &MetadataImage,
    defaults: &TopicDefaults,
    now: i64,
    threads: usize,
) -> Result<Vec<PartitionLog>, StartupError> {
    let jobs: Vec<(String, usize, strait_storage::LogConfig)> = image
        .topics
        .iter()
        .flat_map(|record| {
            let config = defaults.log_config(&record.configs);
            (0..record.partitions.len()).map(move |i| (record.name.clone(), i, config.clone()))
        })
        .collect();
    let open = |(topic, i, config): &(String, usize, strait_storage::LogConfig)| {
        let dir = partition_dir(log_dir, topic, *i as i32);
        PartitionLog::open(&dir, config.clone(), now).map_err(|source| StartupError::Log {
            topic: topic.clone(),
            partition: *i,
            dir,
            source,
        })
    };
    let threads = threads.clamp(1, jobs.len().max(1));
    if threads == 1 {
        return jobs.iter().map(open).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<PartitionLog, StartupError>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(open(job));
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| {
                    Err(StartupError::Scan {
                        dir: log_dir.to_path_buf(),
                        source: std::io::Error::other("a recovery thread stopped early"),
                    })
                })
        })
        .collect()
}
