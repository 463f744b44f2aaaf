//! The span the correlation layer has just finished, handed to the layers after it.
//!
//! When a span closes, `tracing-subscriber` calls every layer's `on_close` in stack order,
//! on the thread that closes it, before the span leaves the registry. The correlation layer
//! runs first and finishes the span into one shared record; it leaves that record in a
//! thread-local keyed by the span's id, so an exporter's `on_close` takes an `Arc` clone
//! from there instead of looking the span up in the registry and locking its extensions
//! again. Registry ids carry the slab slot's generation, so a reused slot has a new id and
//! a record left from an earlier close does not match a later span.

use crate::finished::FinishedSpan;
use std::cell::RefCell;
use std::sync::{Arc, Weak};
use tracing_core::span::Id;

thread_local! {
    // Weak: the span's own `SpanData` holds the record until the span leaves the registry,
    // after every `on_close`; this slot must not keep it (and what it holds) alive longer.
    static LAST_CLOSED: RefCell<Option<(u64, Weak<FinishedSpan>)>> = const { RefCell::new(None) };
}

pub(crate) fn remember(id: &Id, span: &Arc<FinishedSpan>) {
    // `try_with`: during thread teardown the slot may be gone; then readers look it up.
    let _ = LAST_CLOSED.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some((id.into_u64(), Arc::downgrade(span)));
        }
    });
}

/// The shared record of span `id` the correlation layer made in this very `on_close` (see
/// [`FinishedSpan`]), an `Arc` clone: for an exporter's `on_close`, stacked after the
/// correlation layer. `None` when the correlation layer did not finish it here (stacked
/// after the caller, filtered, no exporter asked for finished spans); then read it from the
/// span's [`SpanData::finished`](crate::SpanData::finished).
pub fn finished_span(id: &Id) -> Option<Arc<FinishedSpan>> {
    let id = id.into_u64();
    LAST_CLOSED
        .try_with(|slot| {
            let slot = slot.try_borrow().ok()?;
            slot.as_ref()
                .filter(|(closed, _)| *closed == id)
                .and_then(|(_, span)| span.upgrade())
        })
        .ok()
        .flatten()
}
