//! Shared records, made in blocks.
//!
//! Every closed span (and every event, when an exporter asked) becomes one immutable record
//! that every exporter reads. Behind an `Arc` each, every record was one allocation on the
//! application's thread, freed later on an exporter's thread. When the exporters fall behind
//! (a burst) nothing is freed in between, and each of those allocations takes the
//! allocator's slow path: measured with `scripts/bench-peers.sh` (callgrind, glibc), about
//! 200 instructions each, a third of what an exporter cost the application's thread.
//!
//! So the correlation layer makes records in blocks of [`BLOCK`] on each thread, one
//! allocation per block, and a record's handle, [`SharedRecord`], counts references to its
//! block: the block (and every record in it) is freed when the last of its records is
//! dropped. A record held for long (a batch waiting for its timer) keeps its block's
//! memory, at most `BLOCK - 1` other records, alive with it.

use crate::event::FinishedEvent;
use crate::finished::FinishedSpan;
use crate::record::SpanRecord;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::LocalKey;

/// Records per block (32 closed spans are about 10 KiB).
const BLOCK: usize = 32;

/// Up to [`BLOCK`] records, written once each, in order, by the thread that made the block,
/// and read by any thread holding a [`SharedRecord`] for one of them.
///
/// This is the crate's only `unsafe` code: `std`'s one-time cells (`OnceLock`) cost about
/// 90 instructions per record on the application's thread (a state machine built for
/// racing writers), more than half of what a block saves, and here there is one writer
/// per block by construction.
struct Block<T> {
    slots: [UnsafeCell<MaybeUninit<T>>; BLOCK],
    /// Slots `0..filled` hold values (written by the block's one writer, before any
    /// handle to them exists); read when the block is dropped.
    filled: AtomicUsize,
}

// SAFETY: a block hands out shared references to its values (`SharedRecord` derefs to
// `&T` on any thread) and drops them on whichever thread drops it last: `T` must be `Sync`
// and `Send`. Writes go to slots no reader can reach yet (see `Cursor::place`).
unsafe impl<T: Send + Sync> Sync for Block<T> {}
// SAFETY: as above; the values move with the block.
unsafe impl<T: Send + Sync> Send for Block<T> {}

impl<T> Block<T> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            slots: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            filled: AtomicUsize::new(0),
        })
    }
}

impl<T> Drop for Block<T> {
    fn drop(&mut self) {
        let filled = (*self.filled.get_mut()).min(BLOCK);
        for slot in &mut self.slots[..filled] {
            // SAFETY: slots `0..filled` were written (`Cursor::place` counts a slot after
            // writing it) and are dropped once, here, with the block: `&mut self` means no
            // handle is left.
            unsafe { slot.get_mut().assume_init_drop() };
        }
    }
}

/// One record made once and read by every exporter (a closed span's [`FinishedSpan`], an
/// event's [`FinishedEvent`]): immutable, and a clone is a reference count, as with an
/// `Arc`. Send it to an exporter's thread as it is.
pub struct SharedRecord<T> {
    /// Keeps the block (and so the value) alive.
    block: Arc<Block<T>>,
    /// The value, in `block`: read without indexing.
    value: NonNull<T>,
}

// SAFETY: a record is a shared reference to a `T` plus a reference count on the block that
// owns it (dropped on whichever thread drops the block last), as `Arc<T>` is: the same
// bounds.
unsafe impl<T: Send + Sync> Send for SharedRecord<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for SharedRecord<T> {}

impl<T> SharedRecord<T> {
    /// `value` in a block of its own: a record made outside the correlation layer.
    pub fn new(value: T) -> Self {
        Cursor::new().place(|| value)
    }

    /// Whether `a` and `b` are the same record (not merely equal ones).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.value == b.value
    }
}

impl<T> Clone for SharedRecord<T> {
    fn clone(&self) -> Self {
        Self {
            block: self.block.clone(),
            value: self.value,
        }
    }
}

impl<T> Deref for SharedRecord<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `value` points at a slot of `block` (kept alive by this handle) that its
        // cursor wrote before making the first handle to it and never writes again; the
        // write happened before the handle existed, and a handle reaches another thread
        // only through something that synchronises (a channel, a lock), as an `Arc`'s
        // value does.
        unsafe { self.value.as_ref() }
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedRecord<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// The block a thread is filling: the one writer of its free slots.
pub(crate) struct Cursor<T> {
    block: Option<Arc<Block<T>>>,
    next: usize,
}

impl<T> Default for Cursor<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Cursor<T> {
    pub(crate) const fn new() -> Self {
        Self {
            block: None,
            next: 0,
        }
    }

    /// The value `make` returns, made in the next free slot (a new block when this one is
    /// full).
    #[inline]
    fn place(&mut self, make: impl FnOnce() -> T) -> SharedRecord<T> {
        let block = match &self.block {
            Some(block) if self.next < BLOCK => block,
            _ => {
                self.next = 0;
                self.block.insert(Block::new())
            }
        };
        let index = self.next;
        // SAFETY: slot `index` has never been written (`next` only grows within a block,
        // and only this cursor writes its block) and no handle to it exists, so nothing
        // reads it; other threads may read slots below `index` meanwhile, which are
        // different memory. `make` cannot reach this cursor (it is out of its
        // thread-local while placing, see `place`).
        let value = unsafe { (*block.slots[index].get()).write(make()) };
        block.filled.store(index + 1, Ordering::Release);
        self.next = index + 1;
        SharedRecord {
            block: block.clone(),
            value: NonNull::from(value),
        }
    }
}

/// `value` as a shared record in this thread's block of `cursor` (in a new block during
/// thread teardown, or if this were ever re-entered).
#[inline]
fn place<T: 'static>(
    cursor: &'static LocalKey<Cell<Cursor<T>>>,
    make: impl FnOnce() -> T,
) -> SharedRecord<T> {
    // Taken out and put back, so no borrow is held while placing.
    let mut c = cursor.try_with(Cell::take).unwrap_or_default();
    let record = c.place(make);
    let _ = cursor.try_with(|slot| slot.set(c));
    record
}

thread_local! {
    static SPANS: Cell<Cursor<FinishedSpan>> = const { Cell::new(Cursor::new()) };
    static EVENTS: Cell<Cursor<FinishedEvent>> = const { Cell::new(Cursor::new()) };
    static SPAN_RECORDS: Cell<Cursor<SpanRecord>> = const { Cell::new(Cursor::new()) };
}

/// A closed span's shared record, made by `make` in this thread's block.
pub(crate) fn span(make: impl FnOnce() -> FinishedSpan) -> SharedRecord<FinishedSpan> {
    place(&SPANS, make)
}

/// A span's record shared with the events inside it (at its first event), made by `make`
/// in this thread's block.
pub(crate) fn span_record(make: impl FnOnce() -> SpanRecord) -> SharedRecord<SpanRecord> {
    place(&SPAN_RECORDS, make)
}

/// An event's shared record, made by `make` in this thread's block.
pub(crate) fn event(make: impl FnOnce() -> FinishedEvent) -> SharedRecord<FinishedEvent> {
    place(&EVENTS, make)
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static NUMBERS: Cell<Cursor<u64>> = const { Cell::new(Cursor::new()) };
    }

    #[test]
    fn records_share_a_block_until_it_is_full() {
        let records: Vec<_> = (0..BLOCK as u64 + 1)
            .map(|i| place(&NUMBERS, || i))
            .collect();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(**r, i as u64);
        }
        assert!(Arc::ptr_eq(&records[0].block, &records[BLOCK - 1].block));
        assert!(!Arc::ptr_eq(&records[0].block, &records[BLOCK].block));
        // The block lives while any of its records does.
        let last = records[BLOCK - 1].clone();
        drop(records);
        assert_eq!(*last, BLOCK as u64 - 1);
        assert!(SharedRecord::ptr_eq(&last, &last.clone()));
    }

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>, String);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    thread_local! {
        static COUNTED: Cell<Cursor<Counted>> = const { Cell::new(Cursor::new()) };
    }

    #[test]
    fn every_value_is_dropped_once_with_its_last_record_on_any_thread() {
        // Run on a thread of its own, so that its cursor (and the part-filled block it
        // holds) goes when the thread ends.
        let drops = Arc::new(AtomicUsize::new(0));
        let made = BLOCK * 2 + 5;
        let records = {
            let drops = drops.clone();
            std::thread::spawn(move || {
                (0..made)
                    .map(|i| place(&COUNTED, || Counted(drops.clone(), format!("value {i}"))))
                    .collect::<Vec<_>>()
            })
            .join()
            .expect("thread")
        };
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "every record is still held"
        );
        // Read and dropped on other threads, in any order.
        let (odd, even): (Vec<_>, Vec<_>) = records
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 2 == 1);
        let readers: Vec<_> = [odd, even]
            .into_iter()
            .map(|half| {
                std::thread::spawn(move || {
                    for (i, r) in half.into_iter().rev() {
                        assert_eq!(r.1, format!("value {i}"));
                    }
                })
            })
            .collect();
        for r in readers {
            r.join().expect("reader");
        }
        assert_eq!(drops.load(Ordering::SeqCst), made);
    }

    #[test]
    fn a_record_made_alone_is_its_own_block() {
        let drops = Arc::new(AtomicUsize::new(0));
        let record = SharedRecord::new(Counted(drops.clone(), "alone".into()));
        let copy = record.clone();
        assert!(SharedRecord::ptr_eq(&record, &copy));
        drop(record);
        assert_eq!(copy.1, "alone");
        drop(copy);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
