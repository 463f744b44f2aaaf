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
//! allocation per block. A record's handle, [`SharedRecord`], counts the references to its
//! own slot, like an `Arc`: the record is dropped (and what it holds freed) when its last
//! handle goes, and the block's memory when the last record in it has gone. A record held
//! for long (a batch waiting for its timer, a queue under overload) keeps only the bytes of
//! the `BLOCK - 1` slots beside it, not what their records held, and a slot whose record
//! died at once (an exporter's full queue dropped it) is written again. Measured in the
//! 1M-span App Insights overload run (peak RSS 14.4 - 14.8 MiB with an `Arc` per record):
//! blocks of 32 freed only with their last record, 20 MiB; a count per record, blocks of 16,
//! 16.3 - 17.0; blocks of 8, 15.3 - 17.0; and slots written again, 13.4 - 13.9.
//!
//! This is the crate's only `unsafe` code: a reference count per slot, as `Arc` keeps one per
//! allocation. `std`'s one-time cells (`OnceLock`) in an `Arc`'d block cost about 90
//! instructions per record (a state machine built for racing writers) and could not drop a
//! record before its whole block.

use crate::event::FinishedEvent;
use crate::finished::FinishedSpan;
use crate::record::SpanRecord;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::thread::LocalKey;

/// Records per block (8 closed spans are about 2.3 KiB).
const BLOCK: usize = 8;

/// A slot whose value has been dropped (its `refs` fell to zero and the drop is done): its
/// block's cursor may write it again.
const DEAD: usize = usize::MAX;

/// One record's place in a block.
struct Slot<T> {
    /// Handles to the value; it is dropped when this falls to zero, then marked [`DEAD`].
    refs: AtomicUsize,
    /// The block this slot is in (set when the block is made, never changed).
    block: *const Block<T>,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// Up to [`BLOCK`] records, written by the thread that made the block (its cursor), each
/// slot once in order and again only after its record died.
struct Block<T> {
    /// Records alive in the block, plus one while its cursor may still write to it; the
    /// block is freed when this falls to zero.
    live: AtomicUsize,
    slots: [Slot<T>; BLOCK],
}

impl<T> Block<T> {
    /// A new block, held by its cursor (`live` 1), its slots empty.
    fn new() -> NonNull<Self> {
        let mut block = Box::<Self>::new_uninit();
        let ptr = block.as_mut_ptr();
        // SAFETY: every field of the block is initialised here, through raw pointers into
        // the uninitialised allocation (no reference to uninitialised memory is made): the
        // count, and each slot's count and block pointer; the values stay uninitialised
        // (`MaybeUninit`) until written.
        unsafe {
            std::ptr::addr_of_mut!((*ptr).live).write(AtomicUsize::new(1));
            for i in 0..BLOCK {
                let slot = std::ptr::addr_of_mut!((*ptr).slots[i]);
                std::ptr::addr_of_mut!((*slot).refs).write(AtomicUsize::new(0));
                std::ptr::addr_of_mut!((*slot).block).write(ptr);
            }
            NonNull::new_unchecked(Box::into_raw(block.assume_init()))
        }
    }

    /// Gives up one hold on the block (a record's, or its cursor's); the last one frees it.
    ///
    /// # Safety
    ///
    /// `block` is a live block and the caller holds one of its `live` counts, which it may
    /// not use again.
    unsafe fn release(block: *const Self) {
        // SAFETY: the caller's hold keeps the block alive until this decrement.
        if unsafe { &*block }.live.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // As `Arc`'s drop: every other hold's use happens before the block is freed.
        fence(Ordering::Acquire);
        // SAFETY: that was the last hold: no record, handle or cursor refers to the block,
        // and every value in it has been dropped already (`MaybeUninit` drops nothing).
        drop(unsafe { Box::from_raw(block.cast_mut()) });
    }
}

/// One record made once and read by every exporter (a closed span's [`FinishedSpan`], an
/// event's [`FinishedEvent`]): immutable, and a clone is a reference count, as with an
/// `Arc`. Send it to an exporter's thread as it is.
pub struct SharedRecord<T> {
    slot: NonNull<Slot<T>>,
}

// SAFETY: a record is a shared reference to a `T` and a reference count, dropped on
// whichever thread drops the last handle, as `Arc<T>` is: the same bounds.
unsafe impl<T: Send + Sync> Send for SharedRecord<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for SharedRecord<T> {}

impl<T> SharedRecord<T> {
    fn slot(&self) -> &Slot<T> {
        // SAFETY: this handle holds one of the slot's references, which keeps the value,
        // and with it the block's memory, alive.
        unsafe { self.slot.as_ref() }
    }

    /// Whether `a` and `b` are the same record (not merely equal ones).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.slot == b.slot
    }
}

impl<T: Recordable> SharedRecord<T> {
    /// `value` as a shared record, in this thread's block of its kind: for a record made
    /// outside the correlation layer.
    pub fn new(value: T) -> Self {
        <T as sealed::Placed>::place(value)
    }
}

/// The records a [`SharedRecord`] holds: [`FinishedSpan`], [`FinishedEvent`] and
/// [`SpanRecord`] (each kind has its own blocks on each thread).
pub trait Recordable: sealed::Placed {}

impl Recordable for FinishedSpan {}
impl Recordable for FinishedEvent {}
impl Recordable for SpanRecord {}

mod sealed {
    use super::SharedRecord;

    /// Places a value in this thread's block of its kind.
    pub trait Placed: Sized {
        fn place(value: Self) -> SharedRecord<Self>;
    }

    impl Placed for super::FinishedSpan {
        fn place(value: Self) -> SharedRecord<Self> {
            super::span(|| value)
        }
    }

    impl Placed for super::FinishedEvent {
        fn place(value: Self) -> SharedRecord<Self> {
            super::event(|| value)
        }
    }

    impl Placed for super::SpanRecord {
        fn place(value: Self) -> SharedRecord<Self> {
            super::span_record(|| value)
        }
    }
}

impl<T> Clone for SharedRecord<T> {
    fn clone(&self) -> Self {
        // As `Arc::clone`: a new reference needs no ordering with other uses, only the
        // count itself; a count near overflow (leaked handles) aborts rather than wraps.
        if self.slot().refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        Self { slot: self.slot }
    }
}

impl<T> Drop for SharedRecord<T> {
    fn drop(&mut self) {
        let slot = self.slot();
        if slot.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let block = slot.block;
        // SAFETY: that was the value's last reference: nothing reads it any more, and it
        // was written (a handle exists only for a written slot). It is dropped once, here.
        unsafe { (*slot.value.get()).assume_init_drop() };
        // From here the block's cursor may write the slot again (see `Cursor::place`): this
        // thread does not touch it any more, only gives up the record's hold on the block.
        slot.refs.store(DEAD, Ordering::Release);
        // SAFETY: the record's hold on its block, given up once.
        unsafe { Block::release(block) };
    }
}

impl<T> Deref for SharedRecord<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a handle is made only for a slot its cursor has just written, and that
        // slot is not written again while any handle to it exists; the write happened
        // before the handle existed, and a handle reaches another thread only through
        // something that synchronises (a channel, a lock), as an `Arc`'s value does.
        unsafe { (*self.slot().value.get()).assume_init_ref() }
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedRecord<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// The block a thread is filling: the one writer of its free slots.
pub(crate) struct Cursor<T> {
    block: Option<NonNull<Block<T>>>,
    next: usize,
}

impl<T> Default for Cursor<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Cursor<T> {
    fn drop(&mut self) {
        if let Some(block) = self.block.take() {
            // SAFETY: the cursor holds one count of its block, given up here.
            unsafe { Block::release(block.as_ptr()) };
        }
    }
}

impl<T> Cursor<T> {
    pub(crate) const fn new() -> Self {
        Self {
            block: None,
            next: 0,
        }
    }

    /// The value `make` returns, made in a free slot of this cursor's block (a new block
    /// when it has none).
    #[inline]
    fn place(&mut self, make: impl FnOnce() -> T) -> SharedRecord<T> {
        let slot = match self.free_slot() {
            Some(slot) => slot,
            None => {
                let block = Block::new();
                if let Some(full) = self.block.replace(block) {
                    // SAFETY: the cursor's count of the full block, given up.
                    unsafe { Block::release(full.as_ptr()) };
                }
                self.next = 1;
                // SAFETY: the block was just made; the cursor holds its count.
                unsafe { NonNull::from(&block.as_ref().slots[0]) }
            }
        };
        // SAFETY: the cursor holds a count of the slot's block, so it is alive.
        let slot = unsafe { slot.as_ref() };
        // SAFETY: the slot has never been written (`next` only grows within a block, and
        // only this cursor writes its block), or its value was dropped and it is `DEAD`: no
        // handle to it exists and its last dropper no longer touches it. Nothing reads it;
        // other threads may read or drop the values of other slots meanwhile, which are
        // different memory. `make` cannot reach this cursor (it is out of its thread-local
        // while placing, see `place`).
        unsafe { (*slot.value.get()).write(make()) };
        slot.refs.store(1, Ordering::Relaxed);
        // SAFETY: as above, the block is alive.
        unsafe { &*slot.block }.live.fetch_add(1, Ordering::Relaxed);
        SharedRecord {
            slot: NonNull::from(slot),
        }
    }

    /// A slot of the current block to write: one of the last two records made here whose
    /// every handle is gone already (an exporter's full queue dropped it; the one before the
    /// last is no longer held by the hand-over slots of `closed_span` and `event_context`),
    /// else the next unwritten one. Reusing them keeps the records an overloaded exporter
    /// queues from spreading over many blocks, each kept alive by one of them.
    fn free_slot(&mut self) -> Option<NonNull<Slot<T>>> {
        // SAFETY: the cursor holds a count of its block, so it is alive.
        let slots = &unsafe { self.block?.as_ref() }.slots;
        let next = self.next.min(BLOCK);
        // Acquire: the dropping thread's drop of the old value happened before.
        let dead = |i: usize| slots[i].refs.load(Ordering::Acquire) == DEAD;
        if next >= 1 && dead(next - 1) {
            return Some(NonNull::from(&slots[next - 1]));
        }
        if next >= 2 && dead(next - 2) {
            return Some(NonNull::from(&slots[next - 2]));
        }
        if next == BLOCK {
            return None;
        }
        self.next = next + 1;
        Some(NonNull::from(&slots[next]))
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
    use std::sync::Arc;

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>, String);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    thread_local! {
        static COUNTED: Cell<Cursor<Counted>> = const { Cell::new(Cursor::new()) };
        static NUMBERS: Cell<Cursor<u64>> = const { Cell::new(Cursor::new()) };
    }

    fn block_of<T>(r: &SharedRecord<T>) -> *const Block<T> {
        r.slot().block
    }

    #[test]
    fn records_share_a_block_until_it_is_full() {
        let records: Vec<_> = (0..BLOCK as u64 + 1)
            .map(|i| place(&NUMBERS, || i))
            .collect();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(**r, i as u64);
        }
        assert_eq!(block_of(&records[0]), block_of(&records[BLOCK - 1]));
        assert_ne!(block_of(&records[0]), block_of(&records[BLOCK]));
        let last = records[BLOCK - 1].clone();
        assert!(SharedRecord::ptr_eq(&last, &records[BLOCK - 1]));
        assert!(!SharedRecord::ptr_eq(&last, &records[0]));
        // The block's memory lives while any of its records does.
        drop(records);
        assert_eq!(*last, BLOCK as u64 - 1);
    }

    #[test]
    fn a_record_is_dropped_with_its_last_handle_not_with_its_block() {
        // On a thread of its own, so that its cursor (and the part-filled block it holds)
        // goes when the thread ends.
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let (a, b) = std::thread::spawn(move || {
            let a = place(&COUNTED, || Counted(d.clone(), "a".into()));
            let b = place(&COUNTED, || Counted(d.clone(), "b".into()));
            (a, b)
        })
        .join()
        .expect("thread");
        let a2 = a.clone();
        drop(a);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "a clone still holds it");
        drop(a2);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "dropped while b keeps the block"
        );
        assert_eq!(b.1, "b");
        drop(b);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn every_value_is_dropped_once_with_its_last_record_on_any_thread() {
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
        // Cloned, read and dropped on other threads, in any order.
        let (odd, even): (Vec<_>, Vec<_>) = records
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 2 == 1);
        let readers: Vec<_> = [odd, even]
            .into_iter()
            .map(|half| {
                std::thread::spawn(move || {
                    for (i, r) in half.into_iter().rev() {
                        let copy = r.clone();
                        drop(r);
                        assert_eq!(copy.1, format!("value {i}"));
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
    fn a_record_dropped_at_once_gives_its_slot_to_the_next() {
        std::thread::spawn(|| {
            let kept = place(&NUMBERS, || 1);
            let dropped = place(&NUMBERS, || 2);
            let slot = dropped.slot;
            drop(dropped);
            // The last slot is free again: the next record is made there.
            let next = place(&NUMBERS, || 3);
            assert_eq!(next.slot, slot);
            assert_eq!((*kept, *next), (1, 3));
            // The one before the last too, while the last is held.
            let held = place(&NUMBERS, || 4);
            drop(next);
            let again = place(&NUMBERS, || 5);
            assert_eq!(again.slot, slot);
            assert_eq!((*held, *again), (4, 5));
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn records_dropped_on_other_threads_while_slots_are_reused_drop_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let made = 20_000;
        let (tx, rx) = std::sync::mpsc::channel::<SharedRecord<Counted>>();
        let dropper = std::thread::spawn(move || {
            for r in rx {
                assert!(r.1.starts_with("value "));
            }
        });
        let d = drops.clone();
        std::thread::spawn(move || {
            for i in 0..made {
                let r = place(&COUNTED, || Counted(d.clone(), format!("value {i}")));
                // Every third to another thread, the rest dropped here at once (their slots
                // made again), some kept a little longer.
                match i % 3 {
                    0 => tx.send(r).expect("send"),
                    1 => drop(r),
                    _ => {
                        let copy = r.clone();
                        drop(r);
                        assert_eq!(copy.1, format!("value {i}"));
                    }
                }
            }
        })
        .join()
        .expect("maker");
        dropper.join().expect("dropper");
        assert_eq!(drops.load(Ordering::SeqCst), made);
    }
}
