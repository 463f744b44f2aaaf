//! A running export worker keeps its own spans and events away from the application without
//! changing any callsite's interest: a subscriber that enables everything always keeps its
//! callsites `Interest::always`, so `tracing` never asks it `enabled` per span or event.
//! (A `NoSubscriber` on the worker's thread made every callsite `sometimes`: one `enabled`
//! call per span and event, on every thread.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Interest, Metadata, Subscriber};
use tracing_insights_export::ExportBuilder;
use tracing_insights_testing::http::{LoopbackServer, Reply};

/// Enables everything, always, and counts how often `tracing` asks anyway.
struct Counting(Arc<AtomicUsize>);

impl Subscriber for Counting {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        self.0.fetch_add(1, Ordering::SeqCst);
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[test]
fn a_running_worker_leaves_every_callsite_always_enabled() {
    let server = LoopbackServer::start(|_| Reply::status(200));
    let (exp, guard) = ExportBuilder::new("interest", server.url("/v1/traces"))
        .spawn()
        .expect("pipeline");
    // The worker has taken an item and sent it: its thread is running under its own
    // (quiet) default by now.
    assert!(exp.try_send(b"1".to_vec()));
    guard.flush(Duration::from_secs(5)).expect("flush");

    let asked = Arc::new(AtomicUsize::new(0));
    tracing::subscriber::with_default(Counting(asked.clone()), || {
        // Callsites first used here, with the worker alive: their interest is computed now.
        for i in 0..3 {
            let span = tracing::info_span!("work", i);
            let _entered = span.enter();
            tracing::info!(i, "done");
        }
    });
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "every callsite stayed `always`: the worker's thread changed no interest"
    );
    guard.shutdown(Duration::from_secs(5)).expect("shutdown");
}
