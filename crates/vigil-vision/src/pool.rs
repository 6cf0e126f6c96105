//! Inference lanes: bounded, prioritised admission of CPU-bound work from async code.
//!
//! A fixed set of `workers` OS threads runs jobs (size it to the cores, e.g. 2 on the
//! reference box, with 1 inference thread each). Jobs arrive in one of three [`Lane`]s:
//!
//! | lane | who | when full | waits |
//! |---|---|---|---|
//! | [`Lane::Interactive`] | `POST /analyze`, later identify/verify | [`VisionError::Overloaded`] at once (503 + `Retry-After`) | up to `queue` jobs |
//! | [`Lane::Live`] | camera and browser frames | a new frame **replaces** its source's pending frame; the replaced caller gets [`LiveOutcome::Superseded`] | one frame per source, up to `live_sources` sources |
//! | [`Lane::Batch`] | video jobs | never refused for being busy: the caller waits for a place | up to `batch_queue` jobs; more callers wait outside |
//!
//! A worker that becomes free always takes the oldest interactive job first, then the
//! oldest live frame, then the oldest batch job, except that one background pick in
//! four goes to a waiting batch job even while frames wait (a camera running all day
//! must not stall every video job until it stops). Live and batch together never occupy
//! more than `workers - reserved_interactive` workers (default: one worker kept for
//! interactive requests when there are two or more), so a saturated camera or video
//! load cannot make an interactive request wait for a whole background job.
//!
//! Live frames never queue: each source has at most one pending frame (the latest); a
//! frame already running is not interrupted. The caller's tracing span is entered
//! inside the job so its logs keep the request id. A caller that stops waiting (request
//! dropped) before its job starts removes it from the queue; a job that has started
//! runs to the end and keeps its worker until then.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::error::VisionError;

/// Which queue a job waits in; also its priority (interactive highest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// A person waiting for an answer (HTTP `/analyze`): bounded, refused when full.
    Interactive,
    /// Frames of live sources: one pending frame per source, the latest wins.
    Live,
    /// Background work (video jobs): lowest priority, waits its turn.
    Batch,
}

impl Lane {
    /// Every lane, highest priority first.
    pub const ALL: [Lane; 3] = [Lane::Interactive, Lane::Live, Lane::Batch];

    /// The name used in `/metrics` (`interactive`, `live`, `batch`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Live => "live",
            Lane::Batch => "batch",
        }
    }

    fn index(self) -> usize {
        match self {
            Lane::Interactive => 0,
            Lane::Live => 1,
            Lane::Batch => 2,
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Jobs running at once (worker threads).
    pub workers: usize,
    /// Interactive jobs allowed to wait for a worker before [`VisionError::Overloaded`].
    pub queue: usize,
    /// Live sources that may have a pending frame at once; a frame from one more source
    /// is refused with [`VisionError::Overloaded`].
    pub live_sources: usize,
    /// Batch jobs waiting in the queue; further batch callers wait for a place.
    pub batch_queue: usize,
    /// Workers live and batch jobs may never occupy (capped at `workers - 1`, so the
    /// background lanes always have at least one worker).
    pub reserved_interactive: usize,
    /// `Retry-After` suggested when full.
    pub retry_after: Duration,
}

impl PoolConfig {
    /// `workers` workers (at least 1), `queue` interactive places, and the defaults for
    /// the rest: 64 live sources, 4 × workers batch places, one worker reserved for
    /// interactive jobs when there are two or more, retry after 1 s.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            workers,
            queue,
            live_sources: 64,
            batch_queue: workers * 4,
            reserved_interactive: usize::from(workers >= 2),
            retry_after: Duration::from_secs(1),
        }
    }

    /// Workers the live and batch lanes may occupy together.
    pub fn background_workers(&self) -> usize {
        let workers = self.workers.max(1);
        workers
            .saturating_sub(self.reserved_interactive)
            .clamp(1, workers)
    }
}

impl Default for PoolConfig {
    /// Workers = available cores, interactive queue = 4 × workers, see [`PoolConfig::new`].
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(workers, workers * 4)
    }
}

/// What became of a live frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveOutcome<T> {
    /// The frame was analysed.
    Done(T),
    /// A newer frame from the same source replaced this one before it started.
    Superseded,
}

/// One lane's counters, as `/metrics` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneStats {
    /// The lane.
    pub lane: Lane,
    /// Jobs waiting for a worker.
    pub waiting: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs finished since start (including panicked ones).
    pub completed: u64,
}

/// A snapshot of the whole pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Interactive, live, batch (in that order).
    pub lanes: [LaneStats; 3],
    /// Live frames replaced by a newer frame of the same source before they started.
    pub superseded: u64,
    /// The most frames any one live source ever had pending at once (the design keeps
    /// it at 1; counted from the queue itself after every live submission).
    pub max_pending_per_source: usize,
    /// Batch callers waiting for a place in the batch queue.
    pub batch_waiting_for_place: usize,
}

impl PoolStats {
    /// The counters of `lane`.
    pub fn lane(&self, lane: Lane) -> LaneStats {
        self.lanes[lane.index()]
    }
}

/// Why a job ended without a value.
enum Ended {
    Panicked,
    Superseded,
}

/// Sends the result to the caller; run after the worker is marked free, so a caller
/// that sees its result also sees the pool's counters updated.
type Delivery = Box<dyn FnOnce() + Send>;

/// A queued job with its result type erased.
trait PendingJob: Send {
    /// Runs the job (panics caught) and returns how to deliver its result.
    fn run(self: Box<Self>) -> Delivery;
    /// Tells the caller a newer frame replaced this one.
    fn supersede(self: Box<Self>);
}

struct Typed<T, F> {
    job: F,
    tx: oneshot::Sender<Result<T, Ended>>,
    span: tracing::Span,
}

impl<T, F> PendingJob for Typed<T, F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>) -> Delivery {
        let Typed { job, tx, span } = *self;
        let result = catch_unwind(AssertUnwindSafe(|| span.in_scope(job)));
        Box::new(move || {
            // The caller may have stopped waiting; then nobody wants the value.
            let _ = tx.send(result.map_err(|_| Ended::Panicked));
        })
    }

    fn supersede(self: Box<Self>) {
        let _ = self.tx.send(Err(Ended::Superseded));
    }
}

struct Queued {
    id: u64,
    /// Live frames: the source they belong to.
    source: Option<String>,
    job: Box<dyn PendingJob>,
    /// Batch jobs: their place in the batch queue, given back when they start.
    place: Option<OwnedSemaphorePermit>,
}

#[derive(Default)]
struct Sched {
    queues: [VecDeque<Queued>; 3],
    running: [usize; 3],
    completed: [u64; 3],
    next_id: u64,
    superseded: u64,
    max_pending_per_source: usize,
    closed: bool,
    /// Background picks so far, for batch's share of them.
    background_turns: u64,
}

/// One background pick in this many goes to a waiting batch job even when live frames
/// wait too: a busy camera must not stall video jobs forever, and live keeps the rest.
const BATCH_SHARE: u64 = 4;

impl Sched {
    /// The next job a free worker should run, honouring priority and the reservation.
    fn pick(&mut self, background_workers: usize) -> Option<(Lane, Queued)> {
        if let Some(job) = self.queues[Lane::Interactive.index()].pop_front() {
            return Some((Lane::Interactive, job));
        }
        let background = self.running[Lane::Live.index()] + self.running[Lane::Batch.index()];
        if background >= background_workers {
            return None;
        }
        let batch_turn = self.background_turns % BATCH_SHARE == BATCH_SHARE - 1;
        let order = if batch_turn {
            [Lane::Batch, Lane::Live]
        } else {
            [Lane::Live, Lane::Batch]
        };
        for lane in order {
            if let Some(job) = self.queues[lane.index()].pop_front() {
                self.background_turns += 1;
                return Some((lane, job));
            }
        }
        None
    }

    fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    fn remove(&mut self, lane: Lane, id: u64) -> bool {
        let queue = &mut self.queues[lane.index()];
        match queue.iter().position(|q| q.id == id) {
            Some(at) => queue.remove(at).is_some(),
            None => false,
        }
    }
}

struct Shared {
    sched: Mutex<Sched>,
    work: Condvar,
    config: PoolConfig,
    batch_places: Arc<Semaphore>,
    /// Batch callers waiting for a place (the semaphore does not count its waiters).
    waiting_for_place: AtomicUsize,
}

impl Shared {
    /// Locks the scheduler, recovering from a poisoned lock: a panic while holding it
    /// cannot leave the queues half-updated (every update is a single push/pop).
    fn lock(&self) -> MutexGuard<'_, Sched> {
        self.sched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn worker(self: Arc<Self>) {
        let background = self.config.background_workers();
        loop {
            let (lane, queued) = {
                let mut sched = self.lock();
                loop {
                    if let Some(next) = sched.pick(background) {
                        sched.running[next.0.index()] += 1;
                        break next;
                    }
                    if sched.closed && sched.is_empty() {
                        return;
                    }
                    sched = self
                        .work
                        .wait(sched)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let Queued { job, place, .. } = queued;
            drop(place);
            let deliver = job.run();
            {
                let mut sched = self.lock();
                sched.running[lane.index()] -= 1;
                sched.completed[lane.index()] += 1;
            }
            // Background capacity may have freed up for a worker that is asleep.
            self.work.notify_all();
            deliver();
        }
    }
}

/// Marks the pool closed when the last [`InferencePool`] clone goes away; the workers
/// finish what is queued and exit.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.work.notify_all();
    }
}

/// Removes a job from its queue if its caller stops waiting before it starts.
struct QueuedGuard {
    shared: Arc<Shared>,
    lane: Lane,
    id: u64,
    armed: bool,
}

impl Drop for QueuedGuard {
    fn drop(&mut self) {
        if self.armed {
            self.shared.lock().remove(self.lane, self.id);
        }
    }
}

/// The inference lanes (cheap to clone; clones share the workers and queues).
#[derive(Clone)]
pub struct InferencePool {
    owner: Arc<Owner>,
}

impl fmt::Debug for InferencePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InferencePool")
            .field("config", &self.shared().config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl InferencePool {
    /// Starts `config.workers` worker threads (at least one).
    pub fn new(config: PoolConfig) -> Self {
        let config = PoolConfig {
            workers: config.workers.max(1),
            ..config
        };
        let shared = Arc::new(Shared {
            sched: Mutex::new(Sched::default()),
            work: Condvar::new(),
            config,
            batch_places: Arc::new(Semaphore::new(config.batch_queue.max(1))),
            waiting_for_place: AtomicUsize::new(0),
        });
        for n in 0..config.workers {
            let shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("vigil-infer-{n}"))
                .spawn(move || shared.worker());
            if let Err(e) = spawned {
                // Fewer workers is slower, not wrong; with none, jobs would wait forever,
                // but the first spawn failing means the process cannot make threads at all.
                tracing::error!(error = %e, "cannot start an inference worker thread");
            }
        }
        Self {
            owner: Arc::new(Owner(shared)),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.0
    }

    /// The sizing in force.
    pub fn config(&self) -> PoolConfig {
        self.shared().config
    }

    /// Jobs waiting for a worker, all lanes together.
    pub fn queue_depth(&self) -> usize {
        self.shared().lock().queues.iter().map(VecDeque::len).sum()
    }

    /// Jobs running now, all lanes together.
    pub fn running(&self) -> usize {
        self.shared().lock().running.iter().sum()
    }

    /// Counters of every lane.
    pub fn stats(&self) -> PoolStats {
        let shared = self.shared();
        let sched = shared.lock();
        let lane = |l: Lane| LaneStats {
            lane: l,
            waiting: sched.queues[l.index()].len(),
            running: sched.running[l.index()],
            completed: sched.completed[l.index()],
        };
        PoolStats {
            lanes: Lane::ALL.map(lane),
            superseded: sched.superseded,
            max_pending_per_source: sched.max_pending_per_source,
            batch_waiting_for_place: shared.waiting_for_place.load(Ordering::Relaxed),
        }
    }

    /// Runs `job` in the interactive lane once a worker is free, or fails at once with
    /// [`VisionError::Overloaded`] when `workers + queue` interactive jobs are already
    /// running or waiting.
    pub async fn run<T, F>(&self, job: F) -> Result<T, VisionError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared();
        let config = shared.config;
        let (tx, rx) = oneshot::channel();
        let guard = {
            let mut sched = shared.lock();
            let lane = Lane::Interactive.index();
            if sched.queues[lane].len() + sched.running[lane] >= config.workers + config.queue {
                return Err(VisionError::Overloaded {
                    retry_after: config.retry_after,
                });
            }
            let id = push(&mut sched, Lane::Interactive, None, job, tx, None);
            QueuedGuard {
                shared: Arc::clone(shared),
                lane: Lane::Interactive,
                id,
                armed: true,
            }
        };
        shared.work.notify_all();
        match wait(rx, guard).await? {
            Ok(value) => Ok(value),
            // Interactive jobs are never superseded.
            Err(Ended::Superseded) | Err(Ended::Panicked) => Err(panicked()),
        }
    }

    /// Runs `job` for a frame of the live source `source`. If that source already has a
    /// frame waiting, this one takes its place (keeping its turn) and the earlier caller
    /// gets [`LiveOutcome::Superseded`]; a frame already running is not affected. A new
    /// source beyond `live_sources` waiting sources is refused with
    /// [`VisionError::Overloaded`].
    pub async fn run_live<T, F>(&self, source: &str, job: F) -> Result<LiveOutcome<T>, VisionError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared();
        let config = shared.config;
        let (tx, rx) = oneshot::channel();
        let guard = {
            let mut sched = shared.lock();
            let sched = &mut *sched;
            let lane = Lane::Live.index();
            let pending = sched.queues[lane]
                .iter_mut()
                .find(|q| q.source.as_deref() == Some(source));
            let id = match pending {
                Some(slot) => {
                    let id = sched.next_id;
                    sched.next_id += 1;
                    let old = std::mem::replace(
                        &mut slot.job,
                        Box::new(Typed {
                            job,
                            tx,
                            span: tracing::Span::current(),
                        }),
                    );
                    slot.id = id;
                    old.supersede();
                    sched.superseded += 1;
                    id
                }
                None => {
                    if sched.queues[lane].len() >= config.live_sources.max(1) {
                        return Err(VisionError::Overloaded {
                            retry_after: config.retry_after,
                        });
                    }
                    push(sched, Lane::Live, Some(source.to_owned()), job, tx, None)
                }
            };
            let pending = sched.queues[lane]
                .iter()
                .filter(|q| q.source.as_deref() == Some(source))
                .count();
            sched.max_pending_per_source = sched.max_pending_per_source.max(pending);
            QueuedGuard {
                shared: Arc::clone(shared),
                lane: Lane::Live,
                id,
                armed: true,
            }
        };
        shared.work.notify_all();
        match wait(rx, guard).await? {
            Ok(value) => Ok(LiveOutcome::Done(value)),
            Err(Ended::Superseded) => Ok(LiveOutcome::Superseded),
            Err(Ended::Panicked) => Err(panicked()),
        }
    }

    /// Runs `job` in the batch lane: after every interactive job and live frame, and
    /// never refused for being busy. When `batch_queue` batch jobs already wait, this
    /// call waits for a place first (back-pressure on the producer, e.g. a video job
    /// reading frames).
    pub async fn run_batch<T, F>(&self, job: F) -> Result<T, VisionError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared();
        let place = {
            shared.waiting_for_place.fetch_add(1, Ordering::Relaxed);
            // A guard, so a caller that gives up while waiting is not counted forever.
            let _counted = Uncount(&shared.waiting_for_place);
            Arc::clone(&shared.batch_places)
                .acquire_owned()
                .await
                // The semaphore is never closed.
                .map_err(|e| VisionError::Internal(e.to_string()))?
        };
        let (tx, rx) = oneshot::channel();
        let guard = {
            let mut sched = shared.lock();
            let id = push(&mut sched, Lane::Batch, None, job, tx, Some(place));
            QueuedGuard {
                shared: Arc::clone(shared),
                lane: Lane::Batch,
                id,
                armed: true,
            }
        };
        shared.work.notify_all();
        match wait(rx, guard).await? {
            Ok(value) => Ok(value),
            Err(Ended::Superseded) | Err(Ended::Panicked) => Err(panicked()),
        }
    }

    /// Runs `job` in `lane` (live frames under the source `source`; a superseded live
    /// frame is returned as `Ok(None)`).
    pub async fn run_in<T, F>(
        &self,
        lane: Lane,
        source: &str,
        job: F,
    ) -> Result<Option<T>, VisionError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match lane {
            Lane::Interactive => self.run(job).await.map(Some),
            Lane::Batch => self.run_batch(job).await.map(Some),
            Lane::Live => match self.run_live(source, job).await? {
                LiveOutcome::Done(v) => Ok(Some(v)),
                LiveOutcome::Superseded => Ok(None),
            },
        }
    }
}

fn push<T, F>(
    sched: &mut Sched,
    lane: Lane,
    source: Option<String>,
    job: F,
    tx: oneshot::Sender<Result<T, Ended>>,
    place: Option<OwnedSemaphorePermit>,
) -> u64
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let id = sched.next_id;
    sched.next_id += 1;
    sched.queues[lane.index()].push_back(Queued {
        id,
        source,
        job: Box::new(Typed {
            job,
            tx,
            span: tracing::Span::current(),
        }),
        place,
    });
    id
}

/// Waits for the result; dropping this future before the job starts removes the job.
async fn wait<T>(
    rx: oneshot::Receiver<Result<T, Ended>>,
    mut guard: QueuedGuard,
) -> Result<Result<T, Ended>, VisionError> {
    let result = rx.await;
    // Started (and finished) or superseded: nothing left in the queue to remove.
    guard.armed = false;
    result.map_err(|_| VisionError::Internal("the inference pool shut down".to_owned()))
}

/// Decrements a counter when dropped.
struct Uncount<'a>(&'a AtomicUsize);

impl Drop for Uncount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn panicked() -> VisionError {
    VisionError::Internal("job panicked".to_owned())
}

#[cfg(test)]
mod tests {
    struct Noop;
    impl super::PendingJob for Noop {
        fn run(self: Box<Self>) -> super::Delivery {
            Box::new(|| ())
        }
        fn supersede(self: Box<Self>) {}
    }

    fn queued(id: u64) -> super::Queued {
        super::Queued {
            id,
            source: None,
            job: Box::new(Noop),
            place: None,
        }
    }

    #[test]
    fn batch_gets_one_background_turn_in_four_while_live_frames_keep_coming() {
        let mut sched = super::Sched::default();
        let mut picked = Vec::new();
        for turn in 0..8u64 {
            // A fresh live frame always waits; the batch queue never empties.
            sched.queues[super::Lane::Live.index()].push_back(queued(turn * 2));
            sched.queues[super::Lane::Batch.index()].push_back(queued(turn * 2 + 1));
            if let Some((lane, job)) = sched.pick(1) {
                picked.push(lane);
                let _ = job.job.run();
            }
        }
        let batch = picked.iter().filter(|l| **l == super::Lane::Batch).count();
        assert_eq!(picked.len(), 8);
        assert_eq!(batch, 2, "one turn in four goes to batch: {picked:?}");
        // Interactive still comes first, whatever the turn.
        sched.queues[super::Lane::Interactive.index()].push_back(queued(99));
        assert!(matches!(sched.pick(1), Some((super::Lane::Interactive, _))));
    }

    use super::*;
    use std::sync::mpsc;

    fn config(workers: usize, queue: usize) -> PoolConfig {
        PoolConfig {
            retry_after: Duration::from_secs(3),
            ..PoolConfig::new(workers, queue)
        }
    }

    async fn until(mut cond: impl FnMut() -> bool) {
        for _ in 0..500 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("condition not reached in 2.5 s");
    }

    /// A job that blocks its worker until the returned sender sends (or is dropped).
    fn blocker() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
        let (tx, rx) = mpsc::channel::<()>();
        (tx, move || {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_pool_answers_overloaded_immediately() {
        let pool = InferencePool::new(config(1, 1));
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
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
        until(|| pool.running() == 1 && pool.queue_depth() == 1).await;
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
        let pool = InferencePool::new(config(1, 1));
        let (tx, block) = blocker();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(block).await })
        };
        until(|| pool.running() == 1).await;
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
        let pool = InferencePool::new(config(1, 0));
        let result: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert!(matches!(result, Err(VisionError::Internal(_))));
        assert_eq!(pool.running(), 0);
        // The worker survived the panic.
        assert!(pool.run(|| 2).await.is_ok_and(|v| v == 2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_free_worker_takes_interactive_then_live_then_batch() {
        let pool = InferencePool::new(config(1, 8));
        let (release, block) = blocker();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(block).await })
        };
        until(|| pool.running() == 1).await;
        // Queue in reverse priority order while the only worker is busy.
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for (lane, name) in [
            (Lane::Batch, "batch-1"),
            (Lane::Live, "live-a"),
            (Lane::Batch, "batch-2"),
            (Lane::Interactive, "interactive-1"),
            (Lane::Live, "live-b"),
            (Lane::Interactive, "interactive-2"),
        ] {
            let (p, order) = (pool.clone(), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                p.run_in(lane, name, move || {
                    if let Ok(mut o) = order.lock() {
                        o.push(name);
                    }
                })
                .await
            }));
            let queued = waiting.len();
            until(|| pool.queue_depth() == queued).await;
        }
        let _ = release.send(());
        for w in waiting {
            assert!(matches!(w.await, Ok(Ok(Some(())))));
        }
        assert!(matches!(busy.await, Ok(Ok(()))));
        let order = order.lock().map(|o| o.clone()).unwrap_or_default();
        assert_eq!(
            order,
            [
                "interactive-1",
                "interactive-2",
                "live-a",
                "live-b",
                "batch-1",
                "batch-2"
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_frame_replaces_the_pending_frame_of_its_source() {
        let pool = InferencePool::new(config(1, 4));
        let (release, block) = blocker();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(block).await })
        };
        until(|| pool.running() == 1).await;
        let mut frames = Vec::new();
        for n in 0..5 {
            let p = pool.clone();
            frames.push(tokio::spawn(
                async move { p.run_live("cam-1", move || n).await },
            ));
            // Frame n is queued once the count of replaced frames reaches n; the one
            // pending frame of the source is then frame n.
            until(|| {
                let s = pool.stats();
                s.superseded == n && s.lane(Lane::Live).waiting == 1
            })
            .await;
        }
        // Another source keeps its own slot.
        let other = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run_live("cam-2", || 100).await })
        };
        until(|| pool.stats().lane(Lane::Live).waiting == 2).await;
        let _ = release.send(());
        let outcomes: Vec<_> = futures_join(frames).await;
        assert_eq!(
            outcomes,
            [
                LiveOutcome::Superseded,
                LiveOutcome::Superseded,
                LiveOutcome::Superseded,
                LiveOutcome::Superseded,
                LiveOutcome::Done(4)
            ],
            "only the latest frame runs"
        );
        assert!(matches!(other.await, Ok(Ok(LiveOutcome::Done(100)))));
        assert!(matches!(busy.await, Ok(Ok(()))));
        let stats = pool.stats();
        assert_eq!(stats.superseded, 4);
        assert_eq!(stats.max_pending_per_source, 1);
        assert_eq!(stats.lane(Lane::Live).completed, 2);
    }

    async fn futures_join<T: std::fmt::Debug>(
        handles: Vec<tokio::task::JoinHandle<Result<T, VisionError>>>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for h in handles {
            match h.await {
                Ok(Ok(v)) => out.push(v),
                other => panic!("job failed: {other:?}"),
            }
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_of_frames_never_leaves_more_than_one_pending_per_source() {
        let pool = InferencePool::new(config(2, 4));
        let mut senders = Vec::new();
        for source in ["a", "b", "c"] {
            for n in 0..40 {
                let pool = pool.clone();
                senders.push(tokio::spawn(async move {
                    pool.run_live(source, move || {
                        std::thread::sleep(Duration::from_millis(2));
                        n
                    })
                    .await
                }));
            }
        }
        let mut done = 0;
        for s in senders {
            if let Ok(Ok(LiveOutcome::Done(_))) = s.await {
                done += 1;
            }
        }
        let stats = pool.stats();
        assert!(done >= 3, "at least the last frame of each source ran");
        assert_eq!(stats.max_pending_per_source, 1);
        assert_eq!(stats.lane(Lane::Live).waiting, 0);
        assert_eq!(
            stats.superseded + stats.lane(Lane::Live).completed,
            120,
            "every frame either ran or was replaced"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_lanes_leave_a_worker_for_interactive_jobs() {
        let pool = InferencePool::new(config(2, 4));
        // Saturate the batch and live lanes with blocked jobs.
        let (release, rx) = mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let mut background = Vec::new();
        for n in 0..3 {
            let (pool, rx) = (pool.clone(), Arc::clone(&rx));
            background.push(tokio::spawn(async move {
                pool.run_batch(move || {
                    let _ = rx.lock().map(|r| r.recv_timeout(Duration::from_secs(10)));
                    n
                })
                .await
            }));
        }
        until(|| {
            let s = pool.stats();
            s.lane(Lane::Batch).running == 1 && s.lane(Lane::Batch).waiting == 2
        })
        .await;
        let live = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run_live("cam", || 1).await })
        };
        until(|| pool.stats().lane(Lane::Live).waiting == 1).await;
        // The second worker is reserved: the live frame and batch jobs wait, an
        // interactive job runs at once.
        let answer = tokio::time::timeout(Duration::from_secs(5), pool.run(|| 42)).await;
        assert!(matches!(answer, Ok(Ok(42))));
        let s = pool.stats();
        assert_eq!(s.lane(Lane::Batch).running + s.lane(Lane::Live).running, 1);
        for _ in 0..3 {
            let _ = release.send(());
        }
        assert!(matches!(live.await, Ok(Ok(LiveOutcome::Done(1)))));
        for b in background {
            assert!(matches!(b.await, Ok(Ok(_))));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_callers_beyond_the_queue_wait_instead_of_failing() {
        let pool = InferencePool::new(PoolConfig {
            batch_queue: 1,
            ..config(1, 0)
        });
        let (release, rx) = mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let mut jobs = Vec::new();
        for n in 0..4 {
            let (pool, rx) = (pool.clone(), Arc::clone(&rx));
            jobs.push(tokio::spawn(async move {
                pool.run_batch(move || {
                    let _ = rx.lock().map(|r| r.recv_timeout(Duration::from_secs(10)));
                    n
                })
                .await
            }));
        }
        until(|| {
            let s = pool.stats();
            s.lane(Lane::Batch).running == 1
                && s.lane(Lane::Batch).waiting == 1
                && s.batch_waiting_for_place == 2
        })
        .await;
        for _ in 0..4 {
            let _ = release.send(());
        }
        let mut results = futures_join(jobs).await;
        results.sort_unstable();
        assert_eq!(results, [0, 1, 2, 3], "none refused");
    }
}
