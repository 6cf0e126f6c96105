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
        let admitted = Arc::clone(&self.admission)
            .try_acquire_owned()
            .map_err(|_| VisionError::Overloaded {
                retry_after: self.retry_after,
            })?;
        // Guards, not paired calls: a caller that gives up (request dropped) while
        // waiting must not leave the gauge or the permits behind.
        let waiting = Gauge::enter(&self.waiting);
        let worker = Arc::clone(&self.workers)
            .acquire_owned()
            .await
            // The semaphore is never closed, so this only fails if that changes.
            .map_err(|e| VisionError::Internal(e.to_string()))?;
        drop(waiting);
        let running = Gauge::enter(&self.running);
        let span = tracing::Span::current();
        // The permits move into the job: they are released when the work ends, even if
        // the caller stopped waiting for it, so at most `workers` jobs ever run.
        tokio::task::spawn_blocking(move || {
            let _held = (admitted, worker, running);
            span.in_scope(job)
        })
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

/// Increments a gauge now, decrements it when dropped.
struct Gauge(Arc<AtomicUsize>);

impl Gauge {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(counter))
    }
}

impl Drop for Gauge {
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_gives_up_while_queued_frees_its_place() {
        let pool = InferencePool::new(PoolConfig {
            workers: 1,
            queue: 1,
            retry_after: Duration::from_secs(1),
        });
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = rx.recv_timeout(Duration::from_secs(5));
                })
                .await
            })
        };
        while pool.running() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Queued behind the busy job, then abandoned after 50 ms.
        let gave_up = tokio::time::timeout(Duration::from_millis(50), pool.run(|| ())).await;
        assert!(gave_up.is_err());
        assert_eq!(pool.queue_depth(), 0);
        let _ = tx.send(());
        assert!(matches!(busy.await, Ok(Ok(()))));
        assert!(pool.run(|| 1).await.is_ok());
        assert_eq!((pool.running(), pool.queue_depth()), (0, 0));
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
