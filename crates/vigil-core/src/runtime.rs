//! The supervised runtime: every background task of the application is started here,
//! restarted with back-off when it fails, visible in `/readyz` and `/metrics`, and
//! drained on shutdown.
//!
//! One [`Runtime`] belongs to the application (the server keeps it in its state). It owns
//! one [`CancellationToken`], cancelled when shutdown starts, and one [`TaskTracker`], which
//! the shutdown waits on for at most the grace period.
//!
//! # Adding a background task
//! Write the task as a function from a [`CancellationToken`] to a future returning
//! `anyhow::Result<()>`, and start it once at start-up:
//!
//! ```ignore
//! runtime.spawn_supervised("retention", move |stop| {
//!     let db = db.clone();
//!     async move { retention::run(db, stop).await }
//! });
//! ```
//!
//! The factory is called again for each restart, so it clones what the task needs. The
//! task must:
//! - return promptly once `stop` is cancelled (`stop.cancelled()` in a `select!` between
//!   units of work), after finishing or checkpointing the unit it is on, and log that it
//!   stopped;
//! - return `Err` on a failure it cannot handle itself: the runtime logs it, marks the task
//!   `restarting`, waits ([`Backoff`]: doubling from `initial` up to `max`, with jitter so
//!   instances do not retry in step) and calls the factory again. A panic is caught and
//!   treated the same way;
//! - return `Ok(())` only when its work is done for good: it is then `stopped` and not
//!   restarted.
//!
//! Threading: tasks run on the tokio runtime the application runs on; CPU-heavy work
//! inside a task belongs on the blocking pool (`spawn_blocking`), as in request handlers.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;

/// After this many failures in a row a task counts as failing (see [`TaskStatus::failing`]).
pub const FAILING_AFTER: u32 = 3;

/// How long to wait before restarting a failed task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait, however many failures.
    pub max: Duration,
    /// A run at least this long counts as healthy: the next failure waits `initial` again.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before restart number `failures` (1 after the first failure), before
    /// jitter: `initial · 2^(failures-1)`, at most `max`.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// [`Backoff::delay`] with jitter: a uniformly spread time between half of it and all
    /// of it, so tasks that failed together (one database outage) do not retry together.
    pub fn jittered(&self, failures: u32) -> Duration {
        let full = self.delay(failures);
        let half = full / 2;
        let span = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(
            random_u64()
                .checked_rem(span.saturating_add(1))
                .unwrap_or(0),
        )
    }
}

/// A random number for spreading work in time (retries, periodic checks) so that
/// tasks started together do not act together. A fresh `RandomState` is seeded from
/// the OS: enough for that, without a dependency; not for secrets.
pub fn random_u64() -> u64 {
    RandomState::new().build_hasher().finish()
}

/// What a supervised task is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Running (started or restarted).
    Running,
    /// Failed; waiting for its back-off before the next start.
    Restarting,
    /// Not running and not coming back: shut down, or finished its work.
    Stopped,
}

/// One task's state, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskStatus {
    /// The name it was started with.
    pub name: String,
    /// What it is doing.
    pub state: TaskState,
    /// How many times it has been restarted since the process started.
    pub restarts: u64,
    /// Failures since its last healthy run (0 while it keeps working).
    pub consecutive_failures: u32,
    /// Its latest failure, if any (the task's own error text; no secrets belong there).
    pub last_error: Option<String>,
}

impl TaskStatus {
    /// Whether the task keeps failing: [`FAILING_AFTER`] failures or more in a row.
    pub fn failing(&self) -> bool {
        self.consecutive_failures >= FAILING_AFTER
    }
}

/// The application's background tasks, their shutdown token and tracker. Cheap to clone
/// (one `Arc`); every clone is the same runtime.
#[derive(Debug, Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    token: CancellationToken,
    tracker: TaskTracker,
    backoff: Backoff,
    tasks: Mutex<Vec<TaskStatus>>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new(Backoff::default())
    }
}

impl Runtime {
    /// A runtime with no tasks yet, restarting failed ones with `backoff`.
    pub fn new(backoff: Backoff) -> Runtime {
        Runtime {
            inner: Arc::new(Inner {
                token: CancellationToken::new(),
                tracker: TaskTracker::new(),
                backoff,
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The shutdown token: cancelled when shutdown starts. Listeners and anything else
    /// that must stop with the application may watch it.
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Starts the background task `name`: calls `factory` with the shutdown token and runs
    /// the future it returns; when that fails or panics, waits its back-off and calls
    /// `factory` again, until shutdown. See the module docs for what a task must do.
    /// Must be called inside a tokio runtime.
    pub fn spawn_supervised<F, Fut>(&self, name: impl Into<String>, mut factory: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let name = name.into();
        let index = {
            let mut tasks = self.lock();
            tasks.push(TaskStatus {
                name: name.clone(),
                state: TaskState::Running,
                restarts: 0,
                consecutive_failures: 0,
                last_error: None,
            });
            tasks.len() - 1
        };
        let runtime = self.clone();
        self.inner.tracker.spawn(async move {
            let token = runtime.token();
            let backoff = runtime.inner.backoff;
            let mut failures = 0u32;
            let mut first = true;
            while !token.is_cancelled() {
                runtime.update(index, |t| {
                    t.state = TaskState::Running;
                    if !first {
                        t.restarts += 1;
                    }
                });
                first = false;
                let started = Instant::now();
                // Its own tokio task, so a panic ends that task only and is reported here.
                let outcome = runtime.inner.tracker.spawn(factory(token.clone())).await;
                let error = match outcome {
                    Ok(Ok(())) => {
                        if !token.is_cancelled() {
                            tracing::info!(task = %name, "background task finished its work");
                        }
                        break;
                    }
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(join) if join.is_panic() => {
                        format!("panicked: {}", panic_message(join.into_panic()))
                    }
                    Err(_) => "was cancelled".to_string(),
                };
                if started.elapsed() >= backoff.reset_after {
                    failures = 0;
                }
                failures = failures.saturating_add(1);
                runtime.update(index, |t| {
                    t.consecutive_failures = failures;
                    t.last_error = Some(error.clone());
                });
                if token.is_cancelled() {
                    tracing::warn!(task = %name, error = %error, "background task failed while shutting down");
                    break;
                }
                let wait = backoff.jittered(failures);
                runtime.update(index, |t| t.state = TaskState::Restarting);
                tracing::error!(
                    task = %name,
                    error = %error,
                    failures,
                    restart_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "background task failed; restarting after back-off"
                );
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            runtime.update(index, |t| t.state = TaskState::Stopped);
        });
    }

    /// Runs `future` as a task the shutdown drain waits for, without supervision: for
    /// tasks with their own lifecycle and restarts (a camera's worker), which watch a
    /// child of [`Runtime::token`] to stop.
    pub fn spawn_tracked<Fut>(&self, future: Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.inner.tracker.spawn(future);
    }

    /// Every task's state, in the order they were started.
    pub fn snapshot(&self) -> Vec<TaskStatus> {
        self.lock().clone()
    }

    /// Starts shutdown: cancels the token, so every task begins to stop.
    pub fn shutdown(&self) {
        self.inner.token.cancel();
        self.inner.tracker.close();
    }

    /// Starts shutdown ([`Runtime::shutdown`]) and waits up to `grace` for every task to
    /// stop. Returns the names of the tasks still running when the grace period ended
    /// (empty when all stopped); those are logged here too. They are not aborted: the
    /// process is about to exit.
    pub async fn drain(&self, grace: Duration) -> Vec<String> {
        self.shutdown();
        if tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_ok()
        {
            return Vec::new();
        }
        let late: Vec<String> = self
            .snapshot()
            .into_iter()
            .filter(|t| t.state != TaskState::Stopped)
            .map(|t| t.name)
            .collect();
        for name in &late {
            tracing::warn!(task = %name, grace_secs = grace.as_secs_f64(), "background task did not stop within the shutdown grace period");
        }
        late
    }

    fn lock(&self) -> MutexGuard<'_, Vec<TaskStatus>> {
        // A panic while holding this lock cannot leave the list half-updated (each update
        // is one field assignment), so a poisoned lock is still usable.
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut TaskStatus)) {
        if let Some(task) = self.lock().get_mut(index) {
            change(task);
        }
    }
}

/// The text of a panic payload (`panic!("…")` gives a `&str` or a `String`).
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn quick() -> Backoff {
        Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(40),
            reset_after: Duration::from_secs(60),
        }
    }

    /// Polls `runtime` until `done` holds for task 0, or fails after five seconds.
    async fn wait_for(runtime: &Runtime, done: impl Fn(&TaskStatus) -> bool) -> TaskStatus {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = runtime.snapshot().remove(0);
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "task never got there: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn back_off_doubles_up_to_the_cap_and_jitter_stays_within_half_of_it() {
        let b = quick();
        let delays: Vec<_> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 40, 40]);
        assert_eq!(b.delay(u32::MAX), b.max);
        for n in 1..=5 {
            for _ in 0..50 {
                let j = b.jittered(n);
                assert!(j >= b.delay(n) / 2 && j <= b.delay(n), "{n}: {j:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_failing_task_is_restarted_with_back_off_and_reported() {
        let runtime = Runtime::new(quick());
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        runtime.spawn_supervised("flaky", move |stop| {
            let counter = counter.clone();
            async move {
                // Fails on its first four runs, then works until shutdown.
                if counter.fetch_add(1, Ordering::SeqCst) < 4 {
                    anyhow::bail!("database is down");
                }
                stop.cancelled().await;
                anyhow::Ok(())
            }
        });
        let failing = wait_for(&runtime, |t| t.consecutive_failures >= FAILING_AFTER).await;
        assert!(failing.failing());
        assert_eq!(failing.last_error.as_deref(), Some("database is down"));

        let recovered = wait_for(&runtime, |t| t.restarts == 4).await;
        let recovered = wait_for(&runtime, |t| {
            t.state == TaskState::Running && t.restarts == recovered.restarts
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        assert_eq!(recovered.name, "flaky");

        assert!(runtime.drain(Duration::from_secs(5)).await.is_empty());
        let stopped = runtime.snapshot().remove(0);
        assert_eq!(stopped.state, TaskState::Stopped);
        assert_eq!(stopped.restarts, 4);
    }

    #[tokio::test]
    async fn a_panicking_task_is_caught_and_restarted() {
        let runtime = Runtime::new(quick());
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        runtime.spawn_supervised("panicky", move |stop| {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("index out of bounds");
                }
                stop.cancelled().await;
                anyhow::Ok(())
            }
        });
        let status = wait_for(&runtime, |t| t.restarts == 1).await;
        assert_eq!(
            status.last_error.as_deref(),
            Some("panicked: index out of bounds")
        );
        wait_for(&runtime, |t| t.state == TaskState::Running).await;
        assert!(runtime.drain(Duration::from_secs(5)).await.is_empty());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn shutdown_cancels_tasks_and_waits_for_their_last_unit_of_work() {
        let runtime = Runtime::new(quick());
        let finished = Arc::new(AtomicU32::new(0));
        let started = Arc::new(AtomicU32::new(0));
        let (done, starts) = (finished.clone(), started.clone());
        runtime.spawn_supervised("worker", move |stop| {
            let done = done.clone();
            starts.fetch_add(1, Ordering::SeqCst);
            async move {
                loop {
                    // A unit of work is never interrupted; shutdown is checked between units.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    if stop.is_cancelled() {
                        return anyhow::Ok(());
                    }
                }
            }
        });
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let late = runtime.drain(Duration::from_secs(5)).await;
        assert!(late.is_empty(), "{late:?}");
        assert!(runtime.is_shutting_down());
        assert!(finished.load(Ordering::SeqCst) >= 1);
        let status = runtime.snapshot().remove(0);
        assert_eq!(status.state, TaskState::Stopped);
        assert_eq!((status.restarts, status.consecutive_failures), (0, 0));
    }

    #[tokio::test]
    async fn a_task_ignoring_shutdown_is_named_after_the_grace_period() {
        let runtime = Runtime::new(quick());
        let started = Arc::new(AtomicU32::new(0));
        let counter = started.clone();
        runtime.spawn_supervised("stubborn", move |_stop| {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                anyhow::Ok(())
            }
        });
        runtime.spawn_supervised("polite", |stop| async move {
            stop.cancelled().await;
            anyhow::Ok(())
        });
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let late = runtime.drain(Duration::from_millis(50)).await;
        assert_eq!(late, ["stubborn"]);
        let states: Vec<_> = runtime.snapshot().iter().map(|t| t.state).collect();
        assert_eq!(states, [TaskState::Running, TaskState::Stopped]);
    }

    #[tokio::test]
    async fn a_task_that_finishes_its_work_is_not_restarted() {
        let runtime = Runtime::new(quick());
        runtime.spawn_supervised("once", |_stop| async { anyhow::Ok(()) });
        let status = wait_for(&runtime, |t| t.state == TaskState::Stopped).await;
        assert_eq!((status.restarts, status.last_error), (0, None));
        assert!(runtime.drain(Duration::from_secs(1)).await.is_empty());
    }
}
