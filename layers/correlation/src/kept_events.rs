//! Events an exporter keeps on a span until it closes (OTLP's span events).
//!
//! An exporter that sends events as span events must hold each one until its span closes.
//! Kept in an extension of its own, that cost the application's thread an allocation, a
//! type-map insert and lookup per span with events, and at close a second registry lookup
//! (the span's extensions again) instead of the record the correlation layer had just made:
//! measured, about 1,200 instructions per request with one event. Kept on the span's
//! [`SpanData`](crate::SpanData) instead ([`SpanData::keep_event`](crate::SpanData::keep_event)),
//! the events move into the [`FinishedSpan`](crate::FinishedSpan) at close, where the
//! exporter reads them ([`FinishedSpan::kept_events`](crate::FinishedSpan::kept_events)).

use crate::block::SharedRecord;
use crate::event::FinishedEvent;

/// The events exporters kept on one span, each under its exporter's key, in the order they
/// were kept; and how many each could not keep (over its limit). The first one is inline:
/// most spans with events have one, and then nothing is allocated.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeptEvents {
    first: Option<(usize, SharedRecord<FinishedEvent>)>,
    more: Option<Box<More>>,
}

/// Every kept event after the first, and the counts of those over a limit.
#[derive(Debug, Clone, Default)]
struct More {
    events: Vec<(usize, SharedRecord<FinishedEvent>)>,
    dropped: Vec<(usize, u32)>,
}

impl KeptEvents {
    /// Keeps `event` under `key`, or counts it as dropped when `key` already has `max`
    /// (the first is always kept).
    pub(crate) fn keep(&mut self, key: usize, event: &SharedRecord<FinishedEvent>, max: usize) {
        if self.first.is_none() {
            self.first = Some((key, event.clone()));
            return;
        }
        let more = self.more.get_or_insert_with(Box::default);
        // A key over its limit stays over it (nothing kept is let go): counted at once.
        if let Some((_, n)) = more.dropped.iter_mut().find(|(k, _)| *k == key) {
            *n = n.saturating_add(1);
            return;
        }
        // Fewer kept in all than `max`: this key has room without counting its own.
        let full = more.events.len() + 1 >= max && {
            let first = self.first.as_ref().is_some_and(|(k, _)| *k == key);
            usize::from(first) + more.events.iter().filter(|(k, _)| *k == key).count() >= max
        };
        if !full {
            more.events.push((key, event.clone()));
            return;
        }
        more.dropped.push((key, 1));
    }

    /// Whether nothing was kept.
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The events kept under `key`, in order.
    pub(crate) fn events(&self, key: usize) -> impl Iterator<Item = &SharedRecord<FinishedEvent>> {
        self.first
            .iter()
            .chain(self.more.iter().flat_map(|m| m.events.iter()))
            .filter(move |(k, _)| *k == key)
            .map(|(_, e)| e)
    }

    /// How many events under `key` were over its limit.
    pub(crate) fn dropped(&self, key: usize) -> u32 {
        self.more
            .iter()
            .flat_map(|m| m.dropped.iter())
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event's record, made by a layer that records the event it sees.
    fn event() -> SharedRecord<FinishedEvent> {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::{Context, SubscriberExt as _};
        struct Make(Arc<Mutex<Option<FinishedEvent>>>);
        impl<S: tracing_core::Subscriber> tracing_subscriber::Layer<S> for Make {
            fn on_event(&self, event: &tracing_core::Event<'_>, _: Context<'_, S>) {
                let record = FinishedEvent::new(event, std::time::SystemTime::now(), None, 100.0);
                *self.0.lock().unwrap() = Some(record);
            }
        }
        let got = Arc::default();
        let subscriber = tracing_subscriber::registry().with(Make(Arc::clone(&got)));
        tracing::subscriber::with_default(subscriber, || tracing::info!("kept"));
        let record = got.lock().unwrap().take().expect("recorded");
        SharedRecord::new(record)
    }

    #[test]
    fn each_key_keeps_up_to_its_limit_and_counts_the_rest() {
        let e = event();
        let mut kept = KeptEvents::default();
        for _ in 0..5 {
            kept.keep(1, &e, 3);
        }
        for _ in 0..2 {
            kept.keep(2, &e, 3);
        }
        kept.keep(1, &e, 3);
        assert_eq!((kept.events(1).count(), kept.dropped(1)), (3, 3));
        assert_eq!((kept.events(2).count(), kept.dropped(2)), (2, 0));
        kept.keep(2, &e, 3);
        kept.keep(2, &e, 3);
        assert_eq!((kept.events(2).count(), kept.dropped(2)), (3, 1));
        assert_eq!(kept.events(3).count(), 0);
    }
}
