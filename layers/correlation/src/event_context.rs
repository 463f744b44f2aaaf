//! The ids of the span an event happened in, as the correlation layer saw it.
//!
//! A layer with a per-layer filter (a log sink at `warn`, an exporter with its own
//! `EnvFilter`) cannot see the spans its filter hides, so a filter-aware walk from the event
//! would find no span, or an outer one, and the line would lose its `operation_Id`. The
//! correlation layer sees every span and handles each event before the layers stacked after
//! it, so it leaves the event's context in a thread-local keyed by the event's address, and
//! every later layer reads the same ids from there.

use crate::block::SharedRecord;
use crate::data::SpanContext;
use crate::event::FinishedEvent;
use std::cell::{Cell, RefCell};
use tracing_core::Event;

#[derive(Clone, Copy)]
struct Remembered {
    event: usize,
    metadata: usize,
    context: Option<SpanContext>,
}

thread_local! {
    static LAST_EVENT: Cell<Option<Remembered>> = const { Cell::new(None) };
    /// The shared record of the event in `LAST_EVENT`, when exporters asked for one.
    static LAST_RECORD: RefCell<Option<SharedRecord<FinishedEvent>>> = const { RefCell::new(None) };
}

fn key(event: &Event<'_>) -> (usize, usize) {
    (
        event as *const Event<'_> as usize,
        event.metadata() as *const _ as usize,
    )
}

pub(crate) fn remember(
    event: &Event<'_>,
    context: Option<SpanContext>,
    record: Option<SharedRecord<FinishedEvent>>,
) {
    let (event, metadata) = key(event);
    // The record first: a reader that matches the key below must find this event's.
    let _ = LAST_RECORD.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = record;
        }
    });
    // `try_with`: during thread teardown the slot may be gone; then readers fall back.
    let _ = LAST_EVENT.try_with(|slot| {
        slot.set(Some(Remembered {
            event,
            metadata,
            context,
        }))
    });
}

pub(crate) fn forget() {
    let _ = LAST_EVENT.try_with(|slot| slot.set(None));
    let _ = LAST_RECORD.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = None;
        }
    });
}

/// The context of the span `event` happened in, as the correlation layer saw it while
/// handling this very event: `Some(None)` for an event outside any span, `None` when the
/// correlation layer has not handled this event (it is stacked after the caller, or filtered).
///
/// Exporters and formatters call this first and fall back to a walk over the spans they can
/// see ([`find_span_data`](crate::find_span_data)).
pub fn event_context(event: &Event<'_>) -> Option<Option<SpanContext>> {
    let (e, m) = key(event);
    LAST_EVENT
        .try_with(|slot| slot.get())
        .ok()
        .flatten()
        .filter(|r| r.event == e && r.metadata == m)
        .map(|r| r.context)
}

/// The record of `event` the correlation layer made while handling this very event (see
/// [`FinishedEvent`]): one for every exporter, a clone each. `None` when the
/// correlation layer has not handled this event (stacked after the caller, filtered) or no
/// exporter asked for records
/// ([`CorrelationLayer::share_finished_events`](crate::CorrelationLayer::share_finished_events));
/// then make one with [`FinishedEvent::new`].
pub fn finished_event(event: &Event<'_>) -> Option<SharedRecord<FinishedEvent>> {
    let (e, m) = key(event);
    let current = LAST_EVENT
        .try_with(|slot| slot.get())
        .ok()
        .flatten()
        .is_some_and(|r| r.event == e && r.metadata == m);
    if !current {
        return None;
    }
    LAST_RECORD
        .try_with(|slot| slot.try_borrow().ok().and_then(|r| r.clone()))
        .ok()
        .flatten()
}
