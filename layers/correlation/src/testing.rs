//! Test hooks: a clock and an id generator that tests and the conformance runner control.
//! Enabled by the `testing` feature; inject them with
//! [`CorrelationLayer::with_clock`](crate::CorrelationLayer::with_clock) and
//! [`CorrelationLayer::with_id_generator`](crate::CorrelationLayer::with_id_generator).

use crate::clock::Clock;
use crate::ids::{IdGenerator, SpanId, TraceId};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A clock that stands still until told to move. Clones share the same time.
///
/// [`now`](Clock::now) is the wall time it shows; [`elapsed`](Clock::elapsed) is how far it
/// was moved forward since it was made ([`set`](Self::set) moves the wall time only), so one
/// `ManualClock` can time the spans and drive an exporter's control loop (Live Metrics).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tracing_insights_correlation::{testing::ManualClock, Clock};
/// let clock = ManualClock::new(UNIX_EPOCH);
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_millis(5));
/// assert_eq!(clock.elapsed(), Duration::from_millis(5));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<(Duration, SystemTime)>>);

impl ManualClock {
    /// A clock showing `start`, with `elapsed() == 0`.
    pub fn new(start: SystemTime) -> Self {
        Self(Arc::new(Mutex::new((Duration::ZERO, start))))
    }

    /// Sets the wall time (the monotonic time stays).
    pub fn set(&self, t: SystemTime) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).1 = t;
    }

    /// Moves both the wall and the monotonic time forward.
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        t.0 += d;
        t.1 += d;
    }

    fn get(&self) -> (Duration, SystemTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.get().1
    }

    fn elapsed(&self) -> Duration {
        self.get().0
    }
}

#[derive(Debug, Default)]
struct Queues {
    traces: VecDeque<TraceId>,
    spans: VecDeque<SpanId>,
    next: u64,
}

/// Ids from queues the test fills, then sequential ids (`…0001`, `…0002`, ...) when a queue
/// is empty. Clones share the same queues.
#[derive(Debug, Clone, Default)]
pub struct ScriptedIds(Arc<Mutex<Queues>>);

impl ScriptedIds {
    /// Empty queues: sequential ids.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next new trace id will be `id`.
    pub fn push_trace_id(&self, id: TraceId) {
        self.lock().traces.push_back(id);
    }

    /// The next new span id will be `id` (after those already queued).
    pub fn push_span_id(&self, id: SpanId) {
        self.lock().spans.push_back(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IdGenerator for ScriptedIds {
    fn new_trace_id(&self) -> TraceId {
        let mut q = self.lock();
        if let Some(id) = q.traces.pop_front() {
            return id;
        }
        q.next += 1;
        TraceId::from_bytes(u128::from(q.next).to_be_bytes())
    }

    fn new_span_id(&self) -> SpanId {
        let mut q = self.lock();
        if let Some(id) = q.spans.pop_front() {
            return id;
        }
        q.next += 1;
        SpanId::from_bytes(q.next.to_be_bytes())
    }
}
