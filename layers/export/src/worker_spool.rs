//! The worker's offline side: what happens to a batch whose attempts are exhausted (the
//! spool, else a bounded in-memory buffer, else a counted loss), what is parked at
//! shutdown, and the replay of spooled batches.

use crate::answer::DropReason;
use crate::encode::Encoder;
use crate::spool::PutError;
use crate::stats::Counter;
use crate::worker::{len_of, to_instant, Delivery, Pending, Worker, LEASE_MARGIN, REPLAY_BLOBS};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl<E: Encoder> Worker<E> {
    /// Attempts exhausted: into the spool, else the in-memory buffer, else counted loss.
    pub(crate) fn spool_batch(
        &mut self,
        items: Vec<Vec<u8>>,
        kinds: Vec<u8>,
        retry_after: Option<Duration>,
    ) {
        let Some(spool) = self.spool.clone() else {
            if self.spool_broken {
                self.memory_retry(items, kinds);
            } else {
                self.stats.drop_kinds(DropReason::RetriesExhausted, &kinds);
            }
            return;
        };
        let lease = retry_after
            .unwrap_or(Duration::ZERO)
            .max(self.cfg.retry_interval);
        match spool.put(&items, lease) {
            Ok(id) => {
                self.own_spooled.push(id);
                self.stats
                    .spooled
                    .fetch_add(items.len() as u64, Ordering::Relaxed);
                self.stats.count_kinds(Counter::Spooled, &kinds);
                let at = Instant::now() + lease;
                self.spool_next = Some(self.spool_next.map_or(at, |t| t.min(at)));
            }
            Err(e) => {
                let msg = match e {
                    PutError::Full => format!("offline storage {} is full", spool.dir().display()),
                    PutError::Io(e) => {
                        format!(
                            "cannot write to offline storage {}: {e}",
                            spool.dir().display()
                        )
                    }
                };
                if !self.warned_spool {
                    self.warned_spool = true;
                    crate::diagnostics::report(
                        &self.cfg.name,
                        "spool",
                        "offline storage failures",
                        &format!("{msg}; keeping undelivered telemetry in memory"),
                    );
                }
                self.stats.set_error(msg);
                self.memory_retry(items, kinds);
            }
        }
    }

    pub(crate) fn memory_retry(&mut self, items: Vec<Vec<u8>>, kinds: Vec<u8>) {
        let bytes = len_of(&items);
        if self.pending_bytes + bytes > self.cfg.memory_retry_bytes {
            self.stats.drop_kinds(DropReason::SpoolUnavailable, &kinds);
            return;
        }
        self.pending_bytes += bytes;
        self.pending.push(Pending {
            items,
            kinds,
            bytes,
            // One attempt, then the spool is tried again.
            attempts: self.cfg.max_attempts.saturating_sub(1),
            due: Instant::now() + self.cfg.retry_interval,
            since: Instant::now(),
            throttled: false,
        });
    }

    /// At shutdown: into the spool with no lease (the next run replays it at once), else
    /// counted as lost for `reason`.
    pub(crate) fn park(&mut self, items: Vec<Vec<u8>>, kinds: &[u8], reason: DropReason) {
        let n = items.len() as u64;
        match &self.spool {
            Some(s) if s.put(&items, Duration::ZERO).is_ok() => {
                self.stats.spooled.fetch_add(n, Ordering::Relaxed);
                self.stats.count_kinds(Counter::Spooled, kinds);
            }
            _ => self.stats.drop_kinds(reason, kinds),
        }
    }

    pub(crate) fn park_all_pending(&mut self, reason: DropReason) {
        for p in std::mem::take(&mut self.pending) {
            self.park(p.items, &p.kinds, reason);
        }
        self.pending_bytes = 0;
    }

    pub(crate) fn replay_spool(&mut self, deadline: Option<Instant>) {
        let Some(spool) = self.spool.clone() else {
            return;
        };
        for _ in 0..REPLAY_BLOBS {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let mut corrupt = 0;
            let own: &[u64] = if self.release_own {
                &self.own_spooled
            } else {
                &[]
            };
            let leased = spool.take_own(self.cfg.request_timeout + LEASE_MARGIN, &mut corrupt, own);
            self.stats.drop_items(DropReason::Expired, corrupt);
            let Some(leased) = leased else { break };
            let n = leased.items.len();
            // The spool keeps the bytes only: each item's kind is read from them.
            let leased_kinds: Vec<u8> =
                leased.items.iter().map(|i| self.stats.kind_of(i)).collect();
            match self.deliver(leased.items.clone(), leased_kinds.clone(), deadline) {
                Delivery::Settled { accepted, kinds } => {
                    self.stats.replayed.fetch_add(accepted, Ordering::Relaxed);
                    self.stats.count_kinds(Counter::Replayed, &kinds);
                    let id = leased.name.id;
                    self.own_spooled.retain(|o| *o != id);
                    spool.delete(leased);
                }
                Delivery::Retry {
                    items,
                    kinds,
                    retry_after,
                    error,
                } => {
                    self.stats.set_error(error);
                    let lease = retry_after
                        .unwrap_or(Duration::ZERO)
                        .max(self.cfg.retry_interval);
                    if items.len() == n {
                        spool.release(leased, lease);
                    } else {
                        let replayed = (n - items.len()) as u64;
                        self.stats.replayed.fetch_add(replayed, Ordering::Relaxed);
                        // Per kind: the batch's items less those to send again.
                        let mut left = kinds.clone();
                        for k in &leased_kinds {
                            match left.iter().position(|l| l == k) {
                                Some(i) => {
                                    left.swap_remove(i);
                                }
                                None => self.stats.count_kind(Counter::Replayed, *k, 1),
                            }
                        }
                        let id = leased.name.id;
                        self.own_spooled.retain(|o| *o != id);
                        spool.delete(leased);
                        match spool.put(&items, lease) {
                            Ok(id) => self.own_spooled.push(id),
                            Err(_) => self.memory_retry(items, kinds),
                        }
                    }
                    break;
                }
            }
        }
        self.release_own = false;
        self.spool_next = spool.next_available().map(to_instant);
    }
}
