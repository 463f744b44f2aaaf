//! The worker thread: batches, sends, schedules retries, spools and replays.
//!
//! It never sleeps on a retry: a batch waiting for its backoff or `Retry-After` sits in
//! `pending` with a due time, and the loop keeps receiving and batching new items until
//! something falls due.

use crate::answer::{self, DropReason};
use crate::encode::Encoder;
use crate::handle::{Ack, Msg};
use crate::handoff::Receiver;
use crate::spool::{RealIo, Spool};
use crate::stats::{Counter, Stats};
use crate::transport::Transport;
use crate::ExportBuilder;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often the spool is tidied (stale `.tmp`, retention), as Microsoft's maintenance.
const MAINTENANCE_PERIOD: Duration = Duration::from_secs(60);
/// Spooled batches replayed in one go (Microsoft: 10).
pub(crate) const REPLAY_BLOBS: usize = 10;
/// A batch being replayed is leased for the request timeout plus this (Microsoft: + 5 s;
/// shorter, so a batch leased by a killed process comes back sooner).
pub(crate) const LEASE_MARGIN: Duration = Duration::from_secs(1);

pub(crate) struct Pending {
    pub(crate) items: Vec<Vec<u8>>,
    /// Each item's kind (see [`Stats::kind_of`]).
    pub(crate) kinds: Vec<u8>,
    pub(crate) bytes: usize,
    pub(crate) attempts: u32,
    pub(crate) due: Instant,
    /// When the batch first failed: after [`ExportBuilder::with_spool_after`] it goes to
    /// the spool whatever attempts remain (what a crash can lose is bounded by it).
    pub(crate) since: Instant,
    /// The service said when to come back (`Retry-After`): a later success elsewhere does
    /// not bring it forward.
    pub(crate) throttled: bool,
}

#[derive(Clone, Copy)]
struct Baseline {
    failed: u64,
    spooled: u64,
}

struct Waiter {
    ack: Ack,
    deadline: Instant,
    base: Baseline,
}

pub(crate) enum Delivery {
    /// Nothing left to retry (accepted, or dropped and counted).
    Settled {
        accepted: u64,
        /// The kinds of the accepted items.
        kinds: Vec<u8>,
    },
    /// These items should be sent again later.
    Retry {
        items: Vec<Vec<u8>>,
        kinds: Vec<u8>,
        retry_after: Option<Duration>,
        error: String,
    },
}

pub(crate) struct Worker<E: Encoder> {
    rx: Receiver<Msg<E::Item>>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) encoder: E,
    pub(crate) transport: Box<dyn Transport>,
    pub(crate) cfg: ExportBuilder,
    /// The current endpoint (redirects replace its origin for good).
    pub(crate) url: String,
    next_collect: Option<Instant>,
    batch: Vec<Vec<u8>>,
    /// The kind of each item in `batch`.
    batch_kinds: Vec<u8>,
    batch_bytes: usize,
    batch_started: Option<Instant>,
    force_batch: bool,
    pub(crate) pending: Vec<Pending>,
    pub(crate) pending_bytes: usize,
    pub(crate) spool: Option<Arc<Spool>>,
    pub(crate) spool_next: Option<Instant>,
    /// Ids of the spooled batches this process wrote: a successful send releases them at
    /// once (their leases only keep other processes away).
    pub(crate) own_spooled: Vec<u64>,
    /// A send just succeeded: replay own spooled batches now, leases or not.
    pub(crate) release_own: bool,
    next_maintenance: Instant,
    waiters: Vec<Waiter>,
    shutdown: Option<Waiter>,
    pub(crate) warned_spool: bool,
    /// A spool was asked for but its directory is unusable (read-only, foreign owner):
    /// batches then wait in the bounded in-memory buffer instead.
    pub(crate) spool_broken: bool,
}

/// A batch's items and the kind of each.
pub(crate) type Batch = (Vec<Vec<u8>>, Vec<u8>);

pub(crate) fn len_of(items: &[Vec<u8>]) -> usize {
    items.iter().map(|i| i.len() + 1).sum()
}

pub(crate) fn to_instant(t: std::time::SystemTime) -> Instant {
    Instant::now()
        + t.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
}

impl<E: Encoder> Worker<E> {
    pub(crate) fn new(
        rx: Receiver<Msg<E::Item>>,
        stats: Arc<Stats>,
        cfg: ExportBuilder,
        encoder: E,
        transport: Box<dyn Transport>,
    ) -> Self {
        let mut spool = None;
        let mut spool_broken = false;
        if let Some(dir) = cfg.offline_storage_dir() {
            let io = cfg.spool_io.clone().unwrap_or_else(|| Arc::new(RealIo));
            match Spool::open(dir.clone(), cfg.spool_max_bytes, cfg.spool_retention, io) {
                Ok(s) => spool = Some(Arc::new(s)),
                Err(e) => {
                    let msg = format!(
                        "offline storage disabled: cannot use {}: {e}",
                        dir.display()
                    );
                    eprintln!("[tracing-insights] {}: {msg}", cfg.name);
                    stats.set_error(msg);
                    spool_broken = true;
                }
            }
        }
        Self {
            rx,
            stats,
            encoder,
            transport,
            url: cfg.url.clone(),
            next_collect: cfg.collect_interval.map(|i| Instant::now() + i),
            cfg,
            batch: Vec::new(),
            batch_kinds: Vec::new(),
            batch_bytes: 0,
            batch_started: None,
            force_batch: false,
            pending: Vec::new(),
            pending_bytes: 0,
            spool,
            spool_next: None,
            own_spooled: Vec::new(),
            release_own: false,
            next_maintenance: Instant::now(),
            waiters: Vec::new(),
            shutdown: None,
            warned_spool: false,
            spool_broken,
        }
    }

    pub(crate) fn run(mut self) {
        // Our own work is never telemetry: this thread's spans and events go nowhere. Not a
        // `NoSubscriber`: `Dispatch::new` registers a subscriber with every callsite, and its
        // `Interest::never` beside the application's `always` makes every callsite
        // `sometimes`, one `enabled` call per span and event on every thread (measured: 50
        // instructions each). `Dispatch::none()` is never registered. (Every thread of
        // ours that must stay quiet does the same.)
        let _g = tracing::dispatcher::set_default(&tracing::Dispatch::none());
        loop {
            if self.stats.halted.load(Ordering::Acquire) {
                self.halt();
                return;
            }
            if self.tick() {
                return;
            }
            let wake = self.next_wake();
            let msg = match wake {
                Some(w) => self
                    .rx
                    .recv_timeout(w.saturating_duration_since(Instant::now())),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(Msg::Item(item, kind)) => self.add(item, kind),
                Ok(Msg::Flush(ack, deadline)) => {
                    self.collect();
                    self.force_batch = true;
                    let base = self.baseline();
                    self.waiters.push(Waiter {
                        ack,
                        deadline,
                        base,
                    });
                }
                Ok(Msg::Shutdown(ack, deadline)) => {
                    while let Ok(m) = self.rx.try_recv() {
                        match m {
                            Msg::Item(item, kind) => self.add(item, kind),
                            Msg::Flush(a, _) | Msg::Shutdown(a, _) => {
                                let _ = a.try_send(Ok(()));
                            }
                        }
                    }
                    self.collect();
                    self.force_batch = true;
                    self.shutdown = Some(Waiter {
                        ack,
                        deadline,
                        base: Baseline {
                            failed: 0,
                            spooled: 0,
                        },
                    });
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // Every handle is gone without a shutdown: a last best effort.
                    self.collect();
                    let deadline = Instant::now() + Duration::from_secs(2);
                    self.send_batch(Some(deadline));
                    self.park_all_pending(DropReason::Shutdown);
                    return;
                }
            }
        }
    }

    fn baseline(&self) -> Baseline {
        Baseline {
            failed: self.stats.failed_total(),
            spooled: self.stats.spooled.load(Ordering::Relaxed),
        }
    }

    fn verdict(&self, base: Baseline) -> Result<(), String> {
        let failed = self.stats.failed_total() - base.failed;
        let spooled = self.stats.spooled.load(Ordering::Relaxed) - base.spooled;
        if failed == 0 && spooled == 0 {
            return Ok(());
        }
        let last = self
            .stats
            .last_error
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .unwrap_or_default();
        Err(format!(
            "{failed} items dropped, {spooled} items kept in the offline spool for later; last error: {last}"
        ))
    }

    /// The deadline requests must respect (a waiting flush or shutdown).
    fn request_deadline(&self) -> Option<Instant> {
        self.waiters
            .iter()
            .chain(self.shutdown.as_ref())
            .map(|w| w.deadline)
            .min()
    }

    fn next_wake(&self) -> Option<Instant> {
        if self.force_batch && !self.batch.is_empty() {
            return Some(Instant::now());
        }
        let mut wake: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        };
        consider(self.batch_started.map(|s| s + self.cfg.max_delay));
        consider(self.pending.iter().map(|p| p.due).min());
        consider(self.spool_next);
        consider(self.next_collect);
        if self.spool.is_some() {
            consider(Some(self.next_maintenance));
        }
        consider(self.request_deadline());
        wake
    }

    /// The encoder's own items (metric collection): batched and sent at once.
    fn collect(&mut self) {
        let items = self.encoder.collect();
        if !items.is_empty() {
            for item in items {
                // Counted as the totals count them: sent or dropped, not produced.
                let kind = self.stats.kind_of(&item);
                self.add_prepared(item, kind);
            }
            self.force_batch = true;
        }
    }

    fn add(&mut self, item: E::Item, kind: u8) {
        self.stats.queued.fetch_sub(1, Ordering::AcqRel);
        let len = E::item_len(&item).unwrap_or(0);
        self.stats.queued_bytes.fetch_sub(len, Ordering::AcqRel);
        self.stats.kind_queued(kind, len, false);
        if let Some(bytes) = self.encoder.prepare(item) {
            self.add_prepared(bytes, kind);
        }
    }

    fn add_prepared(&mut self, item: Vec<u8>, kind: u8) {
        if item.len() > self.cfg.max_item_bytes {
            self.stats.drop_kinds(DropReason::Oversized, &[kind]);
            return;
        }
        if !self.batch.is_empty() && self.batch_bytes + item.len() + 2 > self.cfg.max_request_bytes
        {
            let deadline = self.request_deadline();
            self.send_batch(deadline);
        }
        if self.batch.is_empty() {
            self.batch_started = Some(Instant::now());
        }
        self.batch_bytes += item.len() + 1;
        self.batch.push(item);
        self.batch_kinds.push(kind);
        if self.batch.len() >= self.cfg.max_batch {
            let deadline = self.request_deadline();
            self.send_batch(deadline);
        }
    }

    /// Does what is due. Returns `true` when the worker must stop.
    fn tick(&mut self) -> bool {
        if let (Some(at), Some(every)) = (self.next_collect, self.cfg.collect_interval) {
            if at <= Instant::now() {
                self.next_collect = Some(Instant::now() + every);
                self.collect();
            }
        }
        let now = Instant::now();
        let deadline = self.request_deadline();
        let batch_due = self
            .batch_started
            .is_some_and(|s| s + self.cfg.max_delay <= now);
        if !self.batch.is_empty() && (self.force_batch || batch_due) {
            self.send_batch(deadline);
        }
        self.force_batch = false;

        // Batches failing for longer than the spool-after bound go to disk now.
        if self.spool.is_some() {
            if let Some(after) = self.cfg.spool_after {
                while let Some(i) = self.pending.iter().position(|p| p.since + after <= now) {
                    let p = self.pending.swap_remove(i);
                    self.pending_bytes -= p.bytes;
                    self.spool_batch(p.items, p.kinds, None);
                }
            }
        }

        // Pending retries that are due, one by one (each may take a request's time).
        while let Some(i) = self.pending.iter().position(|p| p.due <= Instant::now()) {
            let p = self.pending.swap_remove(i);
            self.pending_bytes -= p.bytes;
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
            match self.deliver(p.items, p.kinds, deadline) {
                Delivery::Settled { accepted, .. } => self.service_answered(accepted),
                Delivery::Retry {
                    items,
                    kinds,
                    retry_after,
                    error,
                } => self.retry_later_since(
                    (items, kinds),
                    p.attempts + 1,
                    retry_after,
                    error,
                    p.since,
                ),
            }
        }

        if let Some(s) = &self.spool {
            if self.next_maintenance <= Instant::now() {
                let stats = &self.stats;
                let expired = s.maintain_with(&mut |item| {
                    let kind = stats.kind_of(item);
                    stats.count_kind(Counter::Dropped(DropReason::Expired), kind, 1);
                });
                self.stats.drop_items(DropReason::Expired, expired);
                self.next_maintenance = Instant::now() + MAINTENANCE_PERIOD;
                self.spool_next = s.next_available().map(to_instant);
            }
        }
        if self.spool_next.is_some_and(|t| t <= Instant::now()) {
            self.replay_spool(deadline);
        }

        // Answer flushes.
        let idle = self.batch.is_empty() && self.pending.is_empty();
        let now = Instant::now();
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if idle {
                let _ = w.ack.try_send(self.verdict(w.base));
            } else if now >= w.deadline {
                let _ = w.ack.try_send(Err(format!(
                    "{} items still waiting to be retried",
                    self.pending.iter().map(|p| p.items.len()).sum::<usize>() + self.batch.len()
                )));
            } else {
                self.waiters.push(w);
            }
        }

        if let Some(sd) = &self.shutdown {
            let deadline = sd.deadline;
            // What cannot be retried before the deadline is kept in the spool now.
            let mut i = 0;
            while i < self.pending.len() {
                if self.pending[i].due >= deadline {
                    let p = self.pending.swap_remove(i);
                    self.pending_bytes -= p.bytes;
                    self.park(p.items, &p.kinds, DropReason::Shutdown);
                } else {
                    i += 1;
                }
            }
            if (self.batch.is_empty() && self.pending.is_empty()) || Instant::now() >= deadline {
                self.send_batch(Some(deadline));
                self.park_all_pending(DropReason::Shutdown);
                for w in std::mem::take(&mut self.waiters) {
                    let _ = w.ack.try_send(Err("the exporter is shutting down".into()));
                }
                if let Some(sd) = self.shutdown.take() {
                    let _ = sd.ack.try_send(self.verdict(sd.base));
                }
                return true;
            }
        }
        false
    }

    fn send_batch(&mut self, deadline: Option<Instant>) {
        self.batch_started = None;
        self.batch_bytes = 0;
        if self.batch.is_empty() {
            return;
        }
        let items = std::mem::take(&mut self.batch);
        let kinds = std::mem::take(&mut self.batch_kinds);
        match self.deliver(items, kinds, deadline) {
            Delivery::Settled { accepted, .. } => self.service_answered(accepted),
            Delivery::Retry {
                items,
                kinds,
                retry_after,
                error,
            } => self.retry_later((items, kinds), 1, retry_after, error),
        }
    }

    /// A batch was accepted: the service is back, so what waits for it goes now: this
    /// process's spooled batches (leases or not) and in-memory retries.
    fn service_answered(&mut self, accepted: u64) {
        if accepted == 0 {
            return;
        }
        let now = Instant::now();
        for p in self.pending.iter_mut().filter(|p| !p.throttled) {
            p.due = p.due.min(now);
        }
        if !self.own_spooled.is_empty() {
            self.release_own = true;
            self.spool_next = Some(now);
        }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        answer::backoff(self.cfg.retry_base, attempts, self.cfg.max_backoff)
    }

    fn retry_later(
        &mut self,
        items: Batch,
        attempts: u32,
        retry_after: Option<Duration>,
        error: String,
    ) {
        self.retry_later_since(items, attempts, retry_after, error, Instant::now());
    }

    fn retry_later_since(
        &mut self,
        (items, kinds): Batch,
        attempts: u32,
        retry_after: Option<Duration>,
        error: String,
        since: Instant,
    ) {
        if !self.stats.halted.load(Ordering::Acquire) {
            self.diagnose_failure(&error);
        }
        self.stats.set_error(error);
        let bytes = len_of(&items);
        // The in-memory retry buffer is bounded: beyond it a batch skips its remaining
        // attempts and goes to the spool (or is dropped and counted without one).
        if attempts < self.cfg.max_attempts
            && self.pending_bytes + bytes <= self.cfg.memory_retry_bytes
        {
            let due = Instant::now() + retry_after.unwrap_or_else(|| self.backoff(attempts));
            self.pending_bytes += bytes;
            self.pending.push(Pending {
                items,
                kinds,
                bytes,
                attempts,
                due,
                since,
                throttled: retry_after.is_some(),
            });
        } else {
            self.spool_batch(items, kinds, retry_after);
        }
    }

    /// A shutdown gave up waiting: keep (spool) or count everything still held, queued
    /// items included, and answer whoever waits; nothing more is sent.
    fn halt(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            match m {
                Msg::Item(item, kind) => self.add(item, kind),
                Msg::Flush(a, _) | Msg::Shutdown(a, _) => {
                    let _ = a.try_send(Err("the exporter was stopped".into()));
                }
            }
        }
        let batch = std::mem::take(&mut self.batch);
        let kinds = std::mem::take(&mut self.batch_kinds);
        if !batch.is_empty() {
            self.park(batch, &kinds, DropReason::Shutdown);
        }
        self.park_all_pending(DropReason::Shutdown);
    }

    /// One line on the diagnostics channel (rate-limited there): the cause, the endpoint
    /// and what waits in the spool.
    fn diagnose_failure(&self, error: &str) {
        let url = crate::redirect::mask_url(&self.url);
        let mut detail = if error.contains(&url) {
            error.to_owned()
        } else {
            format!("{error} ({url})")
        };
        if self.spool.is_some() {
            let s = self.stats.snapshot();
            let waiting = s.spooled.saturating_sub(s.replayed);
            detail.push_str(&format!("; {waiting} items in the offline spool"));
        }
        crate::diagnostics::report(&self.cfg.name, "failed", "requests failed", &detail);
    }
}
