//! A bounded hand-off from application threads to one worker thread, never blocking the
//! sender.
//!
//! `std::sync::mpsc::sync_channel` cost an application thread about 90 instructions per
//! item (measured with `scripts/bench-peers.sh`: the channel-flavour dispatch, the array
//! channel, the receivers' waker check), about a fifth of what an exporter added to the
//! correlation layer. This is a lock-free array queue (crossbeam's `ArrayQueue`) and a wake-up
//! only when the worker has said it is about to sleep. The API is `sync_channel`'s, with its
//! error types, for the calls exporters make: `try_send` on any number of senders, and
//! `recv`, `recv_timeout`, `try_recv` on the one receiver.
//!
//! Not lost: the receiver says it is about to sleep, then looks at the queue once more; a
//! sender pushes, then looks whether the receiver sleeps. A `SeqCst` fence between the write
//! and the read on both sides means at least one of them sees the other's write.

use crossbeam_queue::ArrayQueue;
use std::fmt;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError, TrySendError};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// A queue of `capacity` items (at least 1) and its two ends.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue: ArrayQueue::new(capacity.max(1)),
        sleeping: AtomicBool::new(false),
        receiver: OnceLock::new(),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    queue: ArrayQueue<T>,
    /// The receiver is parked, or about to park (set by it, cleared by the sender that
    /// wakes it).
    sleeping: AtomicBool,
    /// The receiving thread (set on its first wait).
    receiver: OnceLock<Thread>,
    senders: AtomicUsize,
    receiver_gone: AtomicBool,
}

impl<T> Shared<T> {
    fn wake(&self) {
        if let Some(t) = self.receiver.get() {
            t.unpark();
        }
    }
}

/// The sending end: cheap to clone, never blocks.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item`, or hands it back when the queue is full or the receiver is gone.
    #[inline]
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let shared = &*self.shared;
        if shared.receiver_gone.load(Ordering::Relaxed) {
            return Err(TrySendError::Disconnected(item));
        }
        if let Err(item) = shared.queue.push(item) {
            return Err(TrySendError::Full(item));
        }
        // The push before the look (see the module docs).
        fence(Ordering::SeqCst);
        if shared.sleeping.load(Ordering::Relaxed) && shared.sleeping.swap(false, Ordering::AcqRel)
        {
            shared.wake();
        }
        Ok(())
    }

    /// Queues `item`, waiting for room (polling every millisecond) until `deadline` but
    /// never past it: for flush and stop messages, which must not be dropped on a full
    /// queue nor wait forever (a flush from a panic hook on the worker itself). `Full` when
    /// the deadline passed first.
    pub fn send_until(&self, mut item: T, deadline: Instant) -> Result<(), TrySendError<T>> {
        loop {
            match self.try_send(item) {
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    item = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                done => return done,
            }
        }
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: a waiting receiver learns it is disconnected.
            self.shared.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The receiving end, for one worker thread.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next item, if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.shared.queue.pop() {
            Some(item) => Ok(item),
            None if self.disconnected() => {
                self.shared.queue.pop().ok_or(TryRecvError::Disconnected)
            }
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next item, waiting for it as long as any sender is left.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.wait(None).map_err(|_| RecvError)
    }

    /// The next item, waiting for it at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        // A timeout too long to add is no timeout.
        self.wait(Instant::now().checked_add(timeout))
    }

    /// Items until every sender is gone.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }

    fn disconnected(&self) -> bool {
        self.shared.senders.load(Ordering::Acquire) == 0
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let shared = &*self.shared;
        loop {
            if let Some(item) = shared.queue.pop() {
                return Ok(item);
            }
            if self.disconnected() {
                // A last item may have been pushed just before the last sender went.
                return shared.queue.pop().ok_or(RecvTimeoutError::Disconnected);
            }
            shared.receiver.get_or_init(std::thread::current);
            // Release: a sender that sees the flag also sees `receiver` set.
            shared.sleeping.store(true, Ordering::Release);
            // The flag before the second look (see the module docs).
            fence(Ordering::SeqCst);
            if let Some(item) = shared.queue.pop() {
                shared.sleeping.store(false, Ordering::Relaxed);
                return Ok(item);
            }
            if self.disconnected() {
                shared.sleeping.store(false, Ordering::Relaxed);
                continue;
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        shared.sleeping.store(false, Ordering::Relaxed);
                        return Err(RecvTimeoutError::Timeout);
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
            // Woken, timed out or spurious: look again.
            shared.sleeping.store(false, Ordering::Relaxed);
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Relaxed);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.shared.queue.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_arrive_in_order_and_a_full_queue_hands_the_item_back() {
        let (tx, rx) = bounded(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Ok(2));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn send_until_waits_for_room_but_not_past_its_deadline() {
        let (tx, rx) = bounded(1);
        tx.try_send(1).unwrap();
        let started = Instant::now();
        let refused = tx.send_until(2, started + Duration::from_millis(20));
        assert!(matches!(refused, Err(TrySendError::Full(2))));
        assert!(started.elapsed() >= Duration::from_millis(20));
        // Room made while it waits: sent.
        let taker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            let first = rx.recv().unwrap();
            (first, rx.recv().unwrap())
        });
        tx.send_until(3, Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(taker.join().unwrap(), (1, 3));
    }

    #[test]
    fn disconnection_is_seen_on_both_ends() {
        let (tx, rx) = bounded::<u32>(4);
        let tx2 = tx.clone();
        tx.try_send(7).unwrap();
        drop(tx);
        drop(tx2);
        // What was sent before the last sender went still arrives.
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(rx.recv(), Err(RecvError));
        let (tx, rx) = bounded::<u32>(4);
        drop(rx);
        assert!(matches!(tx.try_send(1), Err(TrySendError::Disconnected(1))));
    }

    #[test]
    fn a_sleeping_receiver_gets_every_item_from_many_senders() {
        // Small queue, many senders retrying on full, a receiver that often finds it empty
        // and sleeps: a lost wake-up would hang this test (nextest's timeout), a lost item
        // fail the count.
        let (tx, rx) = bounded::<u64>(8);
        let senders: Vec<_> = (0..4u64)
            .map(|s| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let mut item = s * 1_000_000 + i;
                        loop {
                            match tx.try_send(item) {
                                Ok(()) => break,
                                Err(TrySendError::Full(back)) => {
                                    item = back;
                                    std::thread::yield_now();
                                }
                                Err(TrySendError::Disconnected(_)) => panic!("receiver gone"),
                            }
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut last = [None::<u64>; 4];
        let mut n = 0;
        for item in rx.iter() {
            let (s, i) = ((item / 1_000_000) as usize, item % 1_000_000);
            // Each sender's items arrive in its order.
            assert!(last[s].is_none_or(|l| l < i));
            last[s] = Some(i);
            n += 1;
        }
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(n, 80_000);
    }
}
