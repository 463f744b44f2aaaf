//! The span the correlation layer has just finished, handed to the layers after it.
//!
//! When a span closes, `tracing-subscriber` calls every layer's `on_close` in stack order,
//! on the thread that closes it, before the span leaves the registry. The correlation layer
//! runs first and finishes the span into one shared record; it leaves that record in a
//! thread-local keyed by the span's id, so an exporter's `on_close` takes a clone
//! from there instead of looking the span up in the registry and locking its extensions
//! again. Registry ids carry the slab slot's generation, so a reused slot has a new id and
//! a record left from an earlier close does not match a later span.

use crate::block::SharedRecord;
use crate::finished::FinishedSpan;
use std::cell::RefCell;
use tracing_core::span::Id;

thread_local! {
    // Held until the next close on this thread: one record per thread lives a little longer
    // than its span (the next close lets it go; see `block` for why that order matters).
    static LAST_CLOSED: RefCell<Option<(u64, SharedRecord<FinishedSpan>)>> = const { RefCell::new(None) };
}

pub(crate) fn remember(id: &Id, span: &SharedRecord<FinishedSpan>) {
    // `try_with`: during thread teardown the slot may be gone; then readers look it up.
    let last = LAST_CLOSED.try_with(|slot| {
        slot.try_borrow_mut()
            .ok()
            .and_then(|mut slot| slot.replace((id.into_u64(), span.clone())))
    });
    // The previous record is let go after the borrow ends.
    drop(last);
}

/// The shared record of span `id` the correlation layer made in this very `on_close` (see
/// [`FinishedSpan`]), a clone: for an exporter's `on_close`, stacked after the
/// correlation layer. `None` when the correlation layer did not finish it here (stacked
/// after the caller, filtered, no exporter asked for finished spans); then read it from the
/// span's [`SpanData::finished`](crate::SpanData::finished).
pub fn finished_span(id: &Id) -> Option<SharedRecord<FinishedSpan>> {
    let id = id.into_u64();
    LAST_CLOSED
        .try_with(|slot| {
            let slot = slot.try_borrow().ok()?;
            slot.as_ref()
                .filter(|(closed, _)| *closed == id)
                .map(|(_, span)| span.clone())
        })
        .ok()
        .flatten()
}
