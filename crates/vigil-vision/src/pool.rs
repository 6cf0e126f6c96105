//! Bounded admission for CPU-bound work from async code.
//!
//! `workers` jobs run at once on `tokio::task::spawn_blocking` (size it to the cores,
//! e.g. 2 on the reference box, with 1 inference thread each); up to `queue` more may
//! wait for a worker. Beyond that [`InferencePool::run`] fails at once with
//! [`VisionError::Overloaded`], which the server answers with 503 + `Retry-After`:
//! the backlog never grows without bound. The caller's tracing span is entered inside
//! the blocking job so its logs keep the request id.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::error::VisionError;

/// Pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Jobs running at once.
    pub workers: usize,
    /// Jobs allowed to wait for a worker.
    pub queue: usize,
    /// `Retry-After` suggested when full.
    pub retry_after: Duration,
}

impl Default for PoolConfig {
    /// Workers = available cores, queue = 4 × workers, retry after 1 s.
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            workers,
            queue: workers * 4,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// Bounded pool for blocking jobs (cheap to clone; clones share the limits).
#[derive(Debug, Clone)]
pub struct InferencePool {
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    retry_after: Duration,
}

impl InferencePool {
    /// A pool with the given limits (at least one worker).
    pub fn new(config: PoolConfig) -> Self {
        let workers = config.workers.max(1);
        Self {
            admission: Arc::new(Semaphore::new(workers + config.queue)),
            workers: Arc::new(Semaphore::new(workers)),
            waiting: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            retry_after: config.retry_after,
        }
    }

    /// Jobs waiting for a worker (the `/metrics` queue depth).
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Runs `job` on a blocking thread once a worker is free, or fails immediately with
    /// [`VisionError::Overloaded`] when the queue is full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, VisionError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = Arc::clone(&self.admission)
            .try_acquire_owned()
            .map_err(|_| VisionError::Overloaded {
                retry_after: self.retry_after,
            })?;
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let worker = Arc::clone(&self.workers).acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        // The semaphore is never closed, so this only fails if that changes.
        let _worker = worker.map_err(|e| VisionError::Internal(e.to_string()))?;
        self.running.fetch_add(1, Ordering::Relaxed);
        let _running = Decrement(Arc::clone(&self.running));
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(job))
            .instrument(tracing::Span::current())
            .await
            .map_err(|e| {
                VisionError::Internal(if e.is_panic() {
                    "job panicked".to_owned()
                } else {
                    e.to_string()
                })
            })
    }
}

struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_pool_answers_overloaded_immediately() {
        let pool = InferencePool::new(PoolConfig {
            workers: 1,
            queue: 1,
            retry_after: Duration::from_secs(3),
        });
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let mut jobs = Vec::new();
        for _ in 0..2 {
            let (pool, rx) = (pool.clone(), Arc::clone(&rx));
            jobs.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = rx.lock().map(|r| r.recv_timeout(Duration::from_secs(5)));
                })
                .await
            }));
        }
        // Let both be admitted (one running, one waiting).
        for _ in 0..100 {
            if pool.running() == 1 && pool.queue_depth() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let third = pool.run(|| ()).await;
        assert!(
            matches!(third, Err(VisionError::Overloaded { retry_after }) if retry_after == Duration::from_secs(3))
        );
        let _ = tx.send(());
        let _ = tx.send(());
        for job in jobs {
            assert!(matches!(job.await, Ok(Ok(()))));
        }
        assert!(pool.run(|| 7).await.is_ok_and(|v| v == 7));
    }

    #[tokio::test]
    async fn panicking_job_is_an_internal_error_not_a_crash() {
        let pool = InferencePool::new(PoolConfig {
            workers: 1,
            queue: 0,
            retry_after: Duration::from_secs(1),
        });
        let result: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert!(matches!(result, Err(VisionError::Internal(_))));
        assert_eq!(pool.running(), 0);
    }
}
